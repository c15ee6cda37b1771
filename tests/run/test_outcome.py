"""loadtui.run.outcome, the summary `run` prints (loadtui.report.tables) and --allow-no-success on
the command line: a run in which no request succeeded says why, and the requests still waiting at
the end are part of the result. Run documents built from synthetic run models: no process or
socket."""

from __future__ import annotations

import pytest

from loadtui import exits
from loadtui.report import tables
from loadtui.run import document, verdicts
from loadtui.run.outcome import no_success
from loadtui.run.rundoc import LatencyMs, RunDocument, Summary
from tests.helpers import parse
from tests.synthetic import model, snapshot


def summary(**figures: object) -> Summary:
    return Summary(duration_s=5.0, rps=0.0, latency_ms=LatencyMs(), **figures)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("figures", "why"),
    [
        (
            {"requests": 412, "errors": 412, "errors_by_kind": {"http_401": 412}},
            "no request succeeded: 412 of 412 answered 401",
        ),
        (
            {"requests": 1412, "errors": 1412, "errors_by_kind": {"http_500": 12, "timeout": 1400}},
            "no request succeeded: 1,412 of 1,412 failed: 1,400 timed out, 12 answered 500",
        ),
        (
            {"requests": 0, "errors": 0, "in_flight_at_end": 100, "oldest_in_flight_s": 7.96},
            "no request succeeded: none was answered; 100 requests were still waiting at the "
            "end, the oldest for 8.0 s",
        ),
        ({"requests": 0, "errors": 0}, "no request succeeded: none was answered"),
        ({"requests": 3, "errors": 2, "errors_by_kind": {"http_401": 2}}, None),
    ],
)
def test_a_run_without_a_success_says_why(figures, why):
    assert no_success(summary(**figures)) == why


def doc_of(per_second: list) -> RunDocument:
    run = model(len(per_second), per_second=per_second)
    return document.build(run, verdicts.compute(run))


def test_the_summary_shows_the_requests_still_waiting_at_the_end():
    doc = doc_of([snapshot(s, [20.0] * 5, in_flight=3, oldest_s=0.25 * s) for s in (1, 2, 3)])
    assert doc.summary.in_flight_at_end == 3 and doc.summary.oldest_in_flight_s == 0.75
    lines = tables.run_summary(doc).splitlines()
    assert "waiting    3 still waiting for an answer at the end, the oldest for 0.8 s" in lines
    assert not any(line.startswith("result") for line in lines)
    none_waiting = doc_of([snapshot(s, [20.0] * 5) for s in (1, 2, 3)])
    assert "still waiting" not in tables.run_summary(none_waiting)


def test_the_summary_says_why_a_run_without_a_success_failed():
    doc = doc_of([snapshot(s, [3.0] * 4, errors={"http_401": 4}) for s in (1, 2)])
    lines = tables.run_summary(doc).splitlines()
    assert "result     no request succeeded: 8 of 8 answered 401" in lines


@pytest.mark.parametrize("command", [["run", "5"], ["matrix"]])
def test_allow_no_success_is_an_option_of_run_and_matrix(command):
    assert parse([*command, "--allow-no-success"]) == (None, "")


@pytest.mark.parametrize(
    "argv", [["--allow-no-success"], ["report", "x.json", "--allow-no-success"]]
)
def test_allow_no_success_elsewhere_is_one_line_and_exit_2(argv):
    code, said = parse(argv)  # the TUI judges no run by an exit code; report runs nothing
    assert code == exits.USAGE
    lines = said.splitlines()
    assert len(lines) == 1 and "unrecognized arguments: --allow-no-success" in lines[0], lines
