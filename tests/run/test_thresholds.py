"""loadtui.run.gate: the gate (--threshold, --fail-on) at its boundaries: parsed once, judged from
run documents built from synthetic run models (tests/synthetic.py), recorded in the run file, shown
by the reports, appended to GitHub's step summary. Milliseconds each: no process or socket."""

from __future__ import annotations

import contextlib
import inspect
import io
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from loadtui import exits
from loadtui.cli import headless
from loadtui.cli.main import main
from loadtui.report import html, step_summary, tables
from loadtui.report.merge import merge_documents
from loadtui.report.runs import Run
from loadtui.run import document, gate, runfile, verdicts
from loadtui.run.gate import GateSpec, ThresholdError, parse_fail_on, parse_threshold
from loadtui.run.model import RunModel
from loadtui.run.rundoc import Gate, RunDocument
from tests.synthetic import model, snapshot, stall

FIXTURE = Path(__file__).parents[1] / "fixtures" / "run-0.1.0-closed.json"


def doc_of(run: RunModel) -> RunDocument:
    return document.build(run, verdicts.compute(run))


def steady(latency_ms: float = 100.0, per_second: int = 10, errors_in_first: int = 0, **kw):
    """A 10 s run, ``per_second`` requests a second of ``latency_ms`` each."""
    seconds = [
        snapshot(
            s,
            [latency_ms] * per_second,
            errors={"http_500": errors_in_first} if s == 1 and errors_in_first else None,
        )
        for s in range(1, 11)
    ]
    return doc_of(model(10, per_second=seconds, **kw))


def passes(doc: RunDocument, text: str, names: tuple[str, ...] = ()) -> bool:
    return gate.outcome(doc, parse_threshold(text, names)).passed


# ---- parsing ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "metric", "comparison", "limit", "unit"),
    [
        ("p99<300ms", "p99", "<", 300.0, "ms"),
        ("p50<=0.2s", "p50", "<=", 200.0, "ms"),
        ("p90 < 1.5 s", "p90", "<", 1500.0, "ms"),
        ("p999<800us", "p999", "<", 0.8, "ms"),
        ("mean>=.5ms", "mean", ">=", 0.5, "ms"),
        ("max==2s", "max", "==", 2000.0, "ms"),
        ("rps>150", "rps", ">", 150.0, "req/s"),
        ("rps>=12.5", "rps", ">=", 12.5, "req/s"),
        ("errors<1%", "errors", "<", 1.0, "%"),
        ("errors<=0.5 %", "errors", "<=", 0.5, "%"),
        ("errors==0", "errors", "==", 0.0, "requests"),
        ("stalls==0", "stalls", "==", 0.0, "stalls"),
        ("stalls<3", "stalls", "<", 3.0, "stalls"),
    ],
)
def test_every_threshold_form_parses(text, metric, comparison, limit, unit):
    found = parse_threshold(text)
    assert (found.metric, found.comparison, found.limit, found.unit) == (
        metric,
        comparison,
        limit,
        unit,
    )
    assert found.text == text.strip() and found.request is None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("p99<<3", "'<3' is not a number"),
        ("p42<1s", "unknown figure 'p42'"),
        ("rps>fast", "'fast' is not a number"),
        ("p99<3min", "unknown unit 'min'"),
        ("p99<300", "no unit"),
        ("p99 300ms", "no comparison"),
        ("p99=300ms", "no comparison"),
        ("p99<", "'' is not a number"),
        ("p99<-3ms", "'-3ms' is not a number"),
        ("rps>150/s", "unknown unit '/s'"),
        ("errors<1.5", "a count: give a whole number"),
        ("errors<101%", "at most 100"),
        ("stalls<1%", "unknown unit '%'"),
        ("orders.p99<500ms", "unknown request name 'orders' (this run has no named requests)"),
        (".p99<500ms", "unknown request name ''"),
        ("p99<1" + "0" * 400 + "ms", "too large"),
    ],
)
def test_a_bad_threshold_is_one_line_saying_what_is_wrong(text, words):
    with pytest.raises(ThresholdError) as caught:
        parse_threshold(text)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_request_names_are_checked_against_the_names_the_run_has():
    found = parse_threshold("list orders.p99<500ms", names=("list orders", "create order"))
    assert (found.request, found.metric, found.limit) == ("list orders", "p99", 500.0)
    with pytest.raises(ThresholdError, match="unknown request name 'orders' \\(known: "):
        parse_threshold("orders.p99<500ms", names=("list orders",))
    with pytest.raises(ThresholdError, match="stalls are the server's"):
        parse_threshold("list orders.stalls==0", names=("list orders",))


def test_fail_on_takes_codes_and_severities_and_nothing_else():
    assert parse_fail_on(["critical", "event_loop_blocked, errors", "critical"]) == (
        "critical",
        "event_loop_blocked",
        "errors",
    )
    assert parse_fail_on([]) == ()
    with pytest.raises(ThresholdError, match="unknown verdict code or severity 'blocked'"):
        parse_fail_on(["blocked"])
    with pytest.raises(ThresholdError, match="unknown verdict code or severity 'info'"):
        parse_fail_on(["info"])
    with pytest.raises(ThresholdError, match="give verdict codes"):
        parse_fail_on([" , "])


def test_every_verdict_rule_is_named_after_the_code_it_gives():
    """--fail-on knows the codes from the rules' names (verdicts.CODES)."""
    for rule in verdicts.RULES:
        assert f'"{rule.__name__}"' in inspect.getsource(rule), rule.__name__
    assert {"event_loop_blocked", "errors", "threadpool_saturated"} <= verdicts.CODES


# ---- judging at the boundaries ----------------------------------------------------------------
def test_latency_thresholds_at_the_observed_value():
    doc = steady(100.0)
    p99 = doc.summary.latency_ms.p99
    assert p99 is not None
    exact = f"{p99!r}ms"
    assert not passes(doc, f"p99<{exact}")
    assert passes(doc, f"p99<={exact}")
    assert passes(doc, f"p99=={exact}")
    assert passes(doc, f"p99>={exact}")
    assert not passes(doc, f"p99>{exact}")
    assert passes(doc, f"p99<{p99 + 0.001!r}ms") and not passes(doc, f"p99<{p99 - 0.001!r}ms")


def test_latency_units_convert_to_milliseconds():
    doc = steady(100.0)  # every figure about 100 ms
    assert passes(doc, "p50<0.2s") and not passes(doc, "p50<0.05s")
    assert passes(doc, "p50<200000us") and not passes(doc, "p50<=50000us")
    assert passes(doc, "mean==100ms") and passes(doc, "max<101ms") and passes(doc, "p999<0.101s")


def test_rps_at_the_observed_value():
    doc = steady(per_second=10)
    assert doc.summary.rps == 10.0
    assert passes(doc, "rps>=10") and not passes(doc, "rps>10") and passes(doc, "rps>9.99")


def test_error_rate_and_count_at_their_boundaries():
    doc = steady(errors_in_first=1)  # 1 of 100 requests
    assert (doc.summary.requests, doc.summary.errors) == (100, 1)
    assert not passes(doc, "errors<1%") and passes(doc, "errors<=1%")
    assert passes(doc, "errors<1.01%") and not passes(doc, "errors<0.99%")
    assert not passes(doc, "errors==0") and passes(doc, "errors<=1") and not passes(doc, "errors<1")
    assert passes(steady(), "errors==0") and passes(steady(), "errors<0.001%")


def test_stalls_count_every_stall_of_the_loop():
    assert passes(steady(), "stalls==0")
    one = steady(stalls=[stall(2, 0.3)])
    assert not passes(one, "stalls==0") and passes(one, "stalls<=1") and not passes(one, "stalls<1")
    two = steady(stalls=[stall(2, 0.3), stall(5, 0.2, "gc.collect")])
    assert gate.observed(two, parse_threshold("stalls==0")) == 2


def test_a_run_without_requests_breaches_what_it_cannot_show():
    empty = doc_of(model(10, per_second=[snapshot(s, []) for s in range(1, 11)]))
    for text in ("p99<1s", "mean<1s", "errors<1%"):
        result = gate.outcome(empty, parse_threshold(text))
        assert result.observed is None and not result.passed
        assert gate.describe(result).endswith(" none (no requests)")
    assert passes(empty, "errors==0") and passes(empty, "rps<1")


def test_a_named_request_without_figures_in_the_document_breaches():
    result = gate.outcome(steady(), parse_threshold("orders.p99<1s", names=("orders",)))
    assert not result.passed
    assert gate.describe(result) == (
        "orders.p99<1s breached: orders.p99 none (no figures for orders)"
    )


@pytest.mark.parametrize(
    ("longest_s", "fail_on", "matched"),
    [
        (1.5, ["critical"], ["event_loop_blocked"]),  # 1.5 s: critical
        (1.5, ["warning"], ["event_loop_blocked"]),  # warning or worse
        (0.3, ["critical"], []),  # 0.3 s: a warning
        (0.3, ["warning"], ["event_loop_blocked"]),
        (0.3, ["event_loop_blocked"], ["event_loop_blocked"]),
        (0.3, ["gc_pauses", "errors"], []),
    ],
)
def test_fail_on_matches_codes_and_severities_or_worse(longest_s, fail_on, matched):
    doc = steady(stalls=[stall(2, longest_s)])
    assert gate.matched(doc, parse_fail_on(fail_on)) == matched


def test_an_info_verdict_is_never_a_severity_match():
    doc = steady(signals=(["process stats"], ["metrics sidecar", "heartbeat"]))
    assert [v.severity for v in doc.verdicts] == ["info"]
    assert gate.matched(doc, ("warning",)) == []
    assert gate.matched(doc, ("signals_missing",)) == ["signals_missing"]
    short = doc_of(model(100, stalls=[stall(2, 0.12)]))  # 0.12 % of the run: info
    assert [v.severity for v in short.verdicts] == ["info"]
    assert gate.matched(short, ("warning",)) == []
    assert gate.matched(short, ("event_loop_blocked",)) == ["event_loop_blocked"]


def test_breaches_are_one_line_each():
    doc = steady(errors_in_first=3, stalls=[stall(2, 1.5, "sync_inner_function")])
    spec = GateSpec(
        thresholds=(
            parse_threshold("p99<50ms"),
            parse_threshold("errors==0"),
            parse_threshold("rps>1"),
        ),
        fail_on=("critical",),
    )
    judged = gate.apply(doc, spec)
    assert judged.gate is not None and not judged.gate.passed
    assert [o.passed for o in judged.gate.thresholds] == [False, False, True]
    lines = gate.breaches(judged)
    assert lines[:2] == ["p99<50ms breached: p99 100.031 ms", "errors==0 breached: errors 3"]
    assert lines[2].startswith(
        "verdict event_loop_blocked [critical] matched --fail-on critical: The event loop"
    )
    assert "sync_inner_function" in lines[2] and len(lines) == 3
    assert all("\n" not in line for line in lines)


def test_a_gate_that_judges_by_nothing_is_not_recorded():
    doc = steady()
    assert gate.apply(doc, GateSpec()) is doc and gate.breaches(doc) == []
    passed = gate.apply(doc, GateSpec(thresholds=(parse_threshold("p99<1s"),)))
    assert passed.gate is not None and passed.gate.passed and gate.breaches(passed) == []


# ---- recorded in the run file -----------------------------------------------------------------
def gated() -> RunDocument:
    doc = steady(stalls=[stall(2, 1.5, "sync_inner_function")])
    spec = GateSpec((parse_threshold("p99<50ms"), parse_threshold("errors==0")), ("critical",))
    return gate.apply(doc, spec)


def test_the_gate_round_trips_through_the_run_file(tmp_path):
    doc = gated()
    runfile.write(tmp_path / "run.json", doc)
    loaded = runfile.load(tmp_path / "run.json")
    assert loaded.gate == doc.gate
    assert loaded.gate is not None and loaded.gate.matched == ["event_loop_blocked"]


def test_files_without_a_gate_still_load():
    assert runfile.load(FIXTURE).gate is None


def test_a_gate_that_contradicts_its_outcomes_is_refused():
    gate = gated().gate
    assert gate is not None
    with pytest.raises(ValidationError, match="passed disagrees"):
        Gate.model_validate({**gate.model_dump(), "passed": True})


def test_merged_runs_carry_no_gate():
    assert merge_documents([gated(), steady()]).gate is None


# ---- shown ------------------------------------------------------------------------------------
def test_the_run_summary_lists_the_gate():
    text = tables.run_summary(gated())
    gate = text[text.index("\ngate\n") :].splitlines()
    assert gate[2].split() == ["judged", "by", "observed", "result"]
    assert gate[3].split() == ["p99<50ms", "100.031", "ms", "BREACHED"]
    assert gate[4].split() == ["errors==0", "0", "passed"]
    assert gate[5].split() == ["--fail-on", "critical", "event_loop_blocked", "MATCHED"]


def report(*args: str | Path) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["report", *map(str, args)])
    return code, out.getvalue()


def test_report_shows_the_gate_in_its_table_and_markdown(tmp_path):
    runfile.write(tmp_path / "a.json", gated())
    runfile.write(tmp_path / "b.json", steady())  # not judged: no row
    code, text = report(tmp_path)
    assert code == 0
    gate = text[text.index("\ngate\n") :].splitlines()[2:]
    assert gate[0].split() == ["run", "judged", "by", "observed", "result"]
    assert [line.split()[1] for line in gate[1:]] == ["p99<50ms", "errors==0", "--fail-on"]
    code, markdown = report(tmp_path, "--markdown")
    assert "**Gate**" in markdown
    assert "| /x@100u | p99<50ms | 100.031 ms | BREACHED |" in markdown
    code, text = report(FIXTURE)
    assert code == 0 and "gate" not in text


def test_html_report_has_a_gate_section_when_a_run_was_judged():
    page = html.render([Run("a", ("a.json",), gated())], "now")
    section = page[page.index("<h2>Gate</h2>") :]
    assert '<tr class="breached"><td>/x @ 100u</td><td>p99&lt;50ms</td>' in section
    assert '<tr class="passed"><td>/x @ 100u</td><td>errors==0</td>' in section
    assert "<h2>Gate</h2>" not in html.render([Run("b", ("b.json",), steady())], "now")


# ---- the command line -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["run", "5", "--threshold", "p99<<3"], "--threshold 'p99<<3': '<3' is not a number"),
        (["run", "5", "--threshold", "p42<1s"], "unknown figure 'p42'"),
        (["run", "5", "--threshold", "rps>fast"], "'fast' is not a number"),
        (["run", "5", "--threshold", "p99<3h"], "unknown unit 'h'"),
        (["run", "5", "--threshold", "orders.p99<5ms"], "unknown request name 'orders'"),
        (["run", "5", "--fail-on", "critical,blocking"], "--fail-on: unknown verdict code"),
        (["matrix", "--threshold", "p99<1s", "--threshold", "p1<1s"], "unknown figure 'p1'"),
        (["matrix", "--fail-on", "loop_blocked"], "unknown verdict code or severity"),
    ],
)
def test_bad_gates_are_one_line_and_exit_2_before_anything_starts(argv, words, tmp_path):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main([*argv, "--json" if argv[0] == "run" else "--out", str(tmp_path / "out")])
    assert code == exits.USAGE
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and words in lines[0], lines
    assert not (tmp_path / "out").exists()  # not even the output location was made


# ---- GitHub's step summary --------------------------------------------------------------------
def test_the_step_summary_gets_the_table_the_gate_and_the_breaches(tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv(step_summary.ENV, str(summary))
    doc = gated()
    headless.github_summary("run", [doc], gate.breaches(doc))
    text = summary.read_text()
    assert text.startswith("earlier step\n### loadtui run\n")
    assert "| route | load |" in text and "**Gate**" in text
    assert "- p99&lt;50ms breached: p99 100.031 ms\n" in text
    assert "- verdict event_loop_blocked [critical] matched --fail-on critical" in text
    headless.github_summary("run", [steady()], [])
    assert summary.read_text().startswith(text) and summary.read_text().count("### loadtui") == 2


def test_without_the_variable_nothing_is_written(monkeypatch):
    monkeypatch.delenv(step_summary.ENV, raising=False)
    assert step_summary.append("# x") is None


@pytest.mark.parametrize("where", ["missing/dir/summary.md", "a-directory", "a-fifo"])
def test_a_bad_step_summary_path_is_one_line(where, tmp_path, monkeypatch):
    (tmp_path / "a-directory").mkdir()
    os.mkfifo(tmp_path / "a-fifo")  # no reader: opening it must not wait for one
    monkeypatch.setenv(step_summary.ENV, str(tmp_path / where))
    error = step_summary.append("# x")
    assert error is not None and error.startswith("cannot append to GITHUB_STEP_SUMMARY")
    assert "\n" not in error


def test_a_step_summary_that_cannot_be_written_is_one_line_on_stderr(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(step_summary.ENV, str(tmp_path / "missing" / "summary.md"))
    headless.github_summary("matrix", [steady()], [])
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("loadtui matrix: cannot append to")
