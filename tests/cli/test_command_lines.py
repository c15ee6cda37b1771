"""loadtui.cli.options, loadtui.cli.bounds and loadtui.targets.target: every command line runs as
written or says why: target URLs, extreme values, shared output paths. Refusals are one line naming
the option, exit 2, before anything is sent or started; an accepted target is exactly what is
loaded."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadtui.cli import options, resources
from loadtui.cli.main import main
from loadtui.cli.parser import build_parser
from loadtui.engine.request_spec import Shape, from_command_line, payloads
from tests.helpers import loadtui, parse, start, wait_for
from tests.servers import RawServer


# ---- target URLs -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://[::1", "not a URL loadtui can load"),
        ("http://[zz]:80", "not a URL loadtui can load"),
        ("http://127.0.0.1:0/", "port 0"),
        ("http://user:pw@127.0.0.1:8000", "credentials in a URL are not sent"),
        ("http://127.0.0.1:8000/?a=1", "put a query in the route"),
        ("http://127.0.0.1:8000/#top", "put a query in the route"),
        ("http://127.0.0.1:99999", "not a URL loadtui can load"),
        ("http://127.0.0.1 :8000", "control character"),
        ("gopher://127.0.0.1", "only http:// and https://"),
        ("http://:8000", "no host"),
        ("http://192.0.2.10:8000", "not a loopback address"),
    ],
)
@pytest.mark.parametrize("command", [["run", "/x"], []])  # run, and the TUI
def test_a_bad_target_is_one_line_naming_it(url, words, command):
    code, message = parse([*command, "--target", url])
    assert code == 2
    assert message.startswith("--target ") and words in message and "\n" not in message


def test_a_path_in_the_target_is_a_base_for_routes():
    args = build_parser().parse_args(["run", "/orders", "--target", "http://127.0.0.1:8000/api/"])
    spec = options.run_spec(args)
    assert spec.target is not None and spec.path() == "/api/orders"


URLS = st.builds(
    lambda scheme, userinfo, host, port, path, query: (
        f"{scheme}{userinfo}{host}{port}{path}{query}"
    ),
    st.sampled_from(["http://", "https://", "", "ftp://", "HTTP://"]),
    st.sampled_from(["", "user@", "user:pw@", ":@"]),
    st.sampled_from(
        [
            "127.0.0.1",
            "localhost",
            "[::1]",
            "[::1",
            "[zz]",
            "::1",
            "10.0.0.1",
            "",
            "127.1",
            "127.0.0.1\r\nX: y",
            "ex ample",
        ]
    ),
    st.sampled_from(["", ":0", ":1", ":8000", ":65535", ":65536", ":-1", ":x", ":"]),
    st.sampled_from(["", "/", "/api", "/a b", "/ü"]),
    st.sampled_from(["", "?", "?a=1", "#f"]),
)


@settings(max_examples=300, deadline=None)
@given(URLS)
def test_any_target_is_refused_in_one_line_or_loaded_exactly(url):
    code, message = parse(["run", "/x", "--target", url])
    if code is not None:
        assert code == 2 and message.startswith("--target") and "\n" not in message
        return
    spec = options.run_spec(build_parser().parse_args(["run", "/x", "--target", url]))
    target = spec.target
    assert target is not None and 1 <= target.port <= 65535
    (sent,) = payloads(from_command_line(spec.path(), Shape()), target.host_header)
    request_line, host_line = sent.decode("latin-1").split("\r\n")[:2]
    assert request_line.split(" ")[1].endswith("/x")
    assert host_line == f"Host: {target.host_header}"
    assert host_line.endswith(f":{target.port}")


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("host", "given"),
    [("127.0.0.1", "127.0.0.1"), ("127.0.0.1", "localhost"), ("::1", "[::1]")],
)
def test_what_a_server_receives_is_the_target_as_given(host, given, tmp_path):
    server = RawServer(b"HTTP/1.1 204 No Content\r\n\r\n", host=host)
    url = f"http://{given}:{server.port}/base"
    result = loadtui("run", "/x", "--target", url, "--users", "1", "--duration", "1")
    assert result.returncode == 0, result.stderr
    # the probe's /base/heartbeat may arrive first: look at the load's requests
    loaded = [r.decode().split("\r\n") for r in server.received if b"/base/x " in r]
    assert loaded, server.received[:3]
    assert all(lines[0] == "GET /base/x HTTP/1.1" for lines in loaded)
    assert all(f"Host: {given}:{server.port}" in lines for lines in loaded)


# ---- extreme values --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["run", "5", "--duration", "1e-300"], "--duration"),
        (["run", "5", "--duration", "0.5"], "--duration"),
        (["run", "5", "--duration", "1e9"], "--duration"),
        (["run", "5", "--users", "99999999999999999999999"], "--users"),
        (["run", "5", "--users", "0"], "--users"),
        (["run", "5", "--spawn-rate", "1e12"], "--spawn-rate"),
        (["run", "5", "--rate", "1e9"], "--rate"),
        (["run", "5", "--rate", "0"], "--rate"),
        (["run", "5", "--timeout", "0"], "--timeout"),
        (["run", "5", "--timeout", "1e-300"], "--timeout"),
        (["run", "5", "--think-max", "1e9"], "--think-max"),
        (["run", "5", "--drain", "inf"], "--drain"),
        (["run", "5", "--threads", "1e3"], "--threads"),
        (["matrix", "--users", "10,999999999"], "--users"),
        (["--users", "0"], "--users"),
    ],
)
def test_extreme_values_are_refused_naming_the_option(argv, option):
    code, message = parse(argv)
    assert code == 2
    (line,) = message.strip().splitlines()
    assert option in line


def test_the_bounds_are_in_the_help():
    text = build_parser()._subparsers._group_actions[0].choices["run"].format_help()  # type: ignore[union-attr]
    for bound in ("100,000", "10,000", "one interval", "0.001 to 3600"):
        assert bound in " ".join(text.split()), bound


NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["1e-300", "1e309", "-0", "0x10", "½", "", "1_000"]),
)
OPTIONS = ["--users", "--spawn-rate", "--duration", "--think-min", "--think-max", "--rate",
           "--timeout", "--drain"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(OPTIONS), NUMBERS)
def test_any_number_runs_or_is_refused_in_one_line_naming_its_option(option, value):
    code, message = parse(["run", "5", option, value])
    if code is not None:
        assert code == 2 and option in message and len(message.strip().splitlines()) == 1


# ---- shared output paths ---------------------------------------------------------------------
def test_an_existing_run_file_is_kept_unless_force(tmp_path):
    existing = tmp_path / "run.json"
    existing.write_text("{}")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["run", "5", "--json", str(existing)])  # refused before anything starts
    assert code == 2
    assert err.getvalue() == (
        f"loadtui run: error: {existing}: exists: give --force to replace it\n"
    )
    assert existing.read_text() == "{}"
    args = build_parser().parse_args(["run", "5", "--json", str(existing), "--force"])
    resources.claimed(args.json, args.force).release()


@pytest.mark.e2e
def test_two_runs_never_both_claim_one_file(tmp_path):
    out = tmp_path / "run.json"
    command = ["run", "5", "--users", "2", "--json", out]
    first = start(*command, "--duration", "8")  # still running when the second is refused
    # the first has claimed the file once its lock is there (its start takes seconds when busy)
    assert wait_for(lambda: list(tmp_path.glob(".*.lock")), timeout=30), "no claim"
    second = loadtui(*command, "--duration", "1", "--force")
    _, first_err = first.communicate(timeout=60)
    assert first.returncode == 0, first_err
    assert second.returncode == 2
    assert second.stderr.strip().endswith(f"{out}: another loadtui run is writing it")
    assert not list(tmp_path.glob(".*.lock"))  # released


def test_matrix_runs_in_the_same_second_get_directories_of_their_own(tmp_path):
    from loadtui.run.runfile import new_run_dir

    first, second = new_run_dir(tmp_path), new_run_dir(tmp_path)
    assert first != second and first.is_dir() and second.is_dir()
    assert second.name.startswith(first.name)


@pytest.mark.e2e
def test_an_output_directory_that_cannot_be_made_is_one_line(tmp_path: Path):
    (tmp_path / "file").write_text("")
    result = loadtui("matrix", "--out", tmp_path / "file" / "runs")
    assert result.returncode == 2 and "cannot write run files in" in result.stderr
    assert len(result.stderr.splitlines()) == 1
