"""Bad input to `loadtui capacity`: one line, exit 2, before any work (no server is started,
no file written), and the --slo grammar."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtui.capacity.slo import parse_slo
from loadtui.cli.main import main
from loadtui.run.gate import ThresholdError
from tests.helpers import loadtui

CLOSED = "http://127.0.0.1:9"  # nothing is sent: every case fails before


def exit_code(argv: list[str]) -> int:
    """`loadtui ARGV` in this process: its exit code, argparse's too."""
    try:
        return main(argv)
    except SystemExit as exit:
        return int(exit.code or 0)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--slo", "p99<0ms"], "can never hold"),
        (["--slo", "p99<=0s"], "can never hold"),
        (["--slo", "p99 under 200ms"], "no comparison"),
        (["--slo", "p99<200"], "no unit"),
        (["--slo", "p42<200ms"], "unknown figure"),
        (["--slo", "p99>200ms"], "upper bound"),
        (["--slo", "rps<100"], "an SLO is a time"),
        (["--slo", "orders.p99<1s"], "unknown request name"),
        (["--slo", "p99<1s", "--min-rate", "100", "--max-rate", "50"], "above --max-rate"),
        (["--slo", "p99<1s", "--min-rate", "0"], "must be a number above 0"),
        (["--slo", "p99<1s", "--step", "1"], "must be a number from 2"),
        (["--slo", "p99<1s", "--resolution", "0"], "must be a number above 0"),
        (["--slo", "p99<1s", "--max-rate", "nan"], "must be a number above 0"),
        ([], "the following arguments are required: --slo"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_before_any_work(
    args: list[str], said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "runs"
    code = exit_code(["capacity", "/x", "--target", CLOSED, "--out", str(out), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert said in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_an_existing_json_file_needs_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    existing = tmp_path / "cap.json"
    existing.write_text("{}")
    code = exit_code(
        [
            "capacity",
            "/x",
            "--target",
            CLOSED,
            "--slo",
            "p99<1s",
            "--json",
            str(existing),
            "--out",
            str(tmp_path / "runs"),
        ]
    )
    assert code == 2 and "--force" in capsys.readouterr().err
    assert existing.read_text() == "{}"


def test_a_remote_target_needs_allow_remote(capsys: pytest.CaptureFixture[str]) -> None:
    code = exit_code(["capacity", "/x", "--target", "http://192.0.2.1", "--slo", "p99<1s"])
    assert code == 2 and "--allow-remote" in capsys.readouterr().err


def test_an_slo_is_the_gates_threshold_in_ms() -> None:
    slo = parse_slo("orders.p99 <= 0.2s", names={"orders"})
    assert (slo.request, slo.metric, slo.comparison, slo.limit, slo.unit) == (
        "orders", "p99", "<=", 200.0, "ms",
    )  # fmt: skip
    with pytest.raises(ThresholdError):
        parse_slo("errors<1%")


def test_an_unreachable_target_is_exit_1_with_what_was_done(tmp_path: Path) -> None:
    out = tmp_path / "cap.json"
    done = loadtui(
        "capacity", "/x", "--target", CLOSED, "--slo", "p99<1s", "--out", tmp_path, "--json", out
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "no step was done" in done.stdout and "the search ended early" in done.stdout
    assert "could not be done" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    written = json.loads(out.read_text())
    assert (written["steps"], written["held_rps"], written["limited_by"]) == ([], None, None)
