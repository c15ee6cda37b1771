"""loadtui.run.verdicts: every verdict rule at its boundaries, on run models filled by hand
(tests/synthetic.py): milliseconds each, no process or socket."""

from __future__ import annotations

from dataclasses import replace

import pytest

from loadtui.run import verdicts
from loadtui.run.model import RunModel
from loadtui.run.rundoc import Verdict
from tests.synthetic import model, sample, snapshot, stall


def found(run: RunModel, code: str) -> Verdict | None:
    return next((v for v in verdicts.compute(run) if v.code == code), None)


def severity(run: RunModel, code: str) -> str | None:
    verdict = found(run, code)
    return verdict.severity if verdict else None


# ---- event loop ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("durations", "expected"),
    [
        ([0.24], "info"),  # 0.24 % of the run, shorter than 0.25 s
        ([0.25], "warning"),  # as long as 0.25 s
        ([0.2] * 4, "info"),  # 0.8 % of the run
        ([0.2] * 5, "warning"),  # 1 % of the run
        ([0.99], "warning"),
        ([1.0], "critical"),  # as long as 1 s
        ([0.9] * 11, "warning"),  # 9.9 % of the run, none as long as 1 s
        ([0.91] * 11, "critical"),  # 10.01 % of the run
    ],
)
def test_blocked_loop_severity_by_share_and_longest(durations, expected):
    stalls = [stall(10 + 5 * i, d) for i, d in enumerate(durations)]
    run = model(100, stalls=stalls)
    blocked = found(run, "event_loop_blocked")
    assert blocked is not None and blocked.severity == expected
    assert blocked.evidence["stalls"] == len(durations)
    assert blocked.evidence["total_s"] == pytest.approx(sum(durations), abs=1e-3)


def test_one_stall_is_named_in_the_singular():
    blocked = found(model(10, stalls=[stall(2, 1.5, "sync_inner_function")]), "event_loop_blocked")
    assert blocked is not None
    assert "blocked once, 1.5 s in total" in blocked.message
    assert "sync_inner_function (app.py:1) (1 stall, 1.5 s)" in blocked.message


def test_the_culprit_is_named_with_its_file_line_and_the_call_it_was_in():
    """As the summary, `d` and the reports show it: the verdict's message."""
    leaf = replace(stall(2, 1.5, "read_items"), location="app/items.py:62", leaf="psycopg wait")
    blocked = found(model(10, stalls=[leaf]), "event_loop_blocked")
    assert blocked is not None
    assert "Culprit: read_items (app/items.py:62) → psycopg wait (1 stall" in blocked.message
    assert blocked.evidence["culprits"][0]["leaf"] == "psycopg wait"
    collector = replace(stall(1, 3, "gc.collect (generation 2)"), location="garbage collector")
    gc = found(model(10, stalls=[collector]), "gc_pauses")
    assert gc is not None and "Culprit: gc.collect (generation 2) (1 stall" in gc.message


def test_a_stall_before_the_run_is_not_counted_and_one_across_its_start_is_clipped():
    assert found(model(10, stalls=[stall(-5, 2)]), "event_loop_blocked") is None
    assert found(model(10, stalls=[stall(-5, 5)]), "event_loop_blocked") is None  # ends at 0
    blocked = found(model(10, stalls=[stall(-1, 3)]), "event_loop_blocked")
    assert blocked is not None and blocked.evidence["total_s"] == pytest.approx(2.0)


def test_a_stall_past_the_end_counts_up_to_the_end():
    blocked = found(model(10, stalls=[stall(9, 30)]), "event_loop_blocked")
    assert blocked is not None and blocked.evidence["longest_s"] == pytest.approx(1.0)


def test_collector_stalls_are_gc_pauses_at_most_a_warning():
    run = model(10, stalls=[stall(1, 3, "gc.collect (generation 2)")])
    assert found(run, "event_loop_blocked") is None
    assert severity(run, "gc_pauses") == "warning"


@pytest.mark.parametrize(("failures", "expected"), [(3, None), (4, "warning")])
def test_unanswered_heartbeats_without_a_sidecar(failures, expected):
    samples = [sample(0.5 + i * 0.25, heartbeat_ok=i >= failures) for i in range(8)]
    heartbeat_only = (["heartbeat"], ["metrics sidecar", "process stats"])
    assert severity(model(10, samples=samples, signals=heartbeat_only), "event_loop_blocked") == (
        expected
    )
    no_heartbeat = ([], ["metrics sidecar", "heartbeat", "process stats"])
    assert found(model(10, samples=samples, signals=no_heartbeat), "event_loop_blocked") is None


# ---- thread pool -----------------------------------------------------------------------------
def _pool(saturated_seconds: int) -> list:
    return [
        sample(s + 0.5, threadpool_capacity=40, threadpool_busy=40, threadpool_waiting=5)
        if s < saturated_seconds
        else sample(s + 0.5, threadpool_capacity=40, threadpool_busy=10, threadpool_waiting=0)
        for s in range(10)
    ]


@pytest.mark.parametrize(("seconds", "expected"), [(1, None), (2, "warning")])
def test_pool_saturated_for_two_seconds(seconds, expected):
    assert severity(model(10, samples=_pool(seconds)), "threadpool_saturated") == expected


@pytest.mark.parametrize(("p50_ms", "expected"), [(999.0, "warning"), (1000.0, "critical")])
def test_pool_saturation_is_critical_once_requests_wait_a_second(p50_ms, expected):
    per_second = [snapshot(s, [p50_ms]) for s in range(1, 11)]
    run = model(10, per_second=per_second, samples=_pool(10))
    verdict = found(run, "threadpool_saturated")
    assert verdict is not None and verdict.severity == expected
    assert verdict.evidence["seconds_saturated"] == 10 and verdict.evidence["waiting_max"] == 5
    # Little's law: 1 req/s x the mean latency
    assert verdict.evidence["littles_law_in_flight"] == pytest.approx(p50_ms / 1000, abs=0.1)


# ---- background backlog ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pending", "expected"),
    [
        ({"async": 49}, None),
        ({"async": 50}, "info"),
        ({"sync": 50}, "warning"),
        ({"async_blocking": 50}, "warning"),
    ],
)
def test_backlog_of_fifty_tasks_by_kind(pending, expected):
    samples = [sample(9.5, background_pending=pending, threadpool_capacity=40)]
    assert severity(model(10, samples=samples), "background_backlog") == expected


@pytest.mark.parametrize(("span_s", "expected"), [(5.0, "warning"), (6.0, "critical")])
def test_backlog_is_critical_when_draining_takes_five_minutes(span_s, expected):
    # one completion over the span: 50 pending drain in 50 x span seconds (250 s or 300 s)
    samples = [
        sample(9.5 - span_s, background_pending={"sync": 51}, background_completed={"sync": 0}),
        sample(9.5, background_pending={"sync": 50}, background_completed={"sync": 1}),
    ]
    verdict = found(model(10, samples=samples), "background_backlog")
    assert verdict is not None and verdict.severity == expected
    assert verdict.evidence["drain_estimate_s"]["sync"] == pytest.approx(50 * span_s, abs=0.1)


# ---- generator -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cpu", "lag", "saturated_seconds", "expected"),
    [
        (89.9, 49.9, [2, 3], None),
        (90.0, 1.0, [2, 3], "warning"),
        (5.0, 50.0, [2, 3], "warning"),
        (95.0, 1.0, [1, 2], None),  # the first second (start-up) does not count
        (95.0, 1.0, [5], None),  # one second is not enough
    ],
)
def test_generator_saturated_two_seconds_after_the_first(cpu, lag, saturated_seconds, expected):
    per_second = [
        snapshot(s, cpu_percent=cpu, loop_lag_ms=lag) if s in saturated_seconds else snapshot(s)
        for s in range(1, 11)
    ]
    assert severity(model(10, per_second=per_second), "generator_saturated") == expected


# ---- reachability and errors --------------------------------------------------------------------
def _with_errors(kind: str, failed: int, total: int = 100) -> RunModel:
    per_second = [
        snapshot(1, [1.0] * total, errors={kind: failed}),
        *(snapshot(s, []) for s in range(2, 11)),
    ]
    return model(10, per_second=per_second)


@pytest.mark.parametrize(("refused", "expected"), [(4, None), (5, "critical")])
def test_unreachable_from_five_percent_refused(refused, expected):
    assert severity(_with_errors("refused", refused), "server_unreachable") == expected


@pytest.mark.parametrize(("failed", "expected"), [(1, "warning"), (4, "warning"), (5, "critical")])
def test_errors_are_critical_from_five_percent(failed, expected):
    assert severity(_with_errors("http_500", failed), "errors") == expected


def test_only_404s_ask_whether_the_route_exists():
    verdict = found(_with_errors("http_404", 100), "errors")
    assert verdict is not None and "Does /x exist on the target?" in verdict.message


def test_signals_missing_lists_what_the_target_lacks():
    run = model(3, signals=(["process stats"], ["metrics sidecar", "heartbeat"]))
    verdict = found(run, "signals_missing")
    assert verdict is not None and verdict.severity == "info"
    assert verdict.evidence["missing"] == ["metrics sidecar", "heartbeat"]


def test_a_clean_run_has_no_verdict():
    samples = [
        sample(s + 0.5, threadpool_capacity=40, threadpool_busy=1, background_pending={"async": 3})
        for s in range(10)
    ]
    assert verdicts.compute(model(10, samples=samples)) == []


def test_verdicts_come_critical_first():
    run = model(10, samples=_pool(10), stalls=[stall(1, 2)])
    found_severities = [v.severity for v in verdicts.compute(run)]
    assert found_severities == sorted(found_severities, key=verdicts.SEVERITY_ORDER.get)


def test_stalls_without_application_code_are_a_starved_loop_not_blocking_code():
    run = model(10, stalls=[stall(1, 3, "event loop internals (no application frame)")])
    assert found(run, "event_loop_blocked") is None
    assert severity(run, "loop_starved") == "warning"


def test_a_server_that_answered_nothing_is_unresponsive():
    silent = [
        sample(0.5 + i * 0.25, heartbeat_ok=not 4 <= i < 24, sidecar_ok=not 4 <= i < 24)
        for i in range(36)
    ]
    run = model(10, samples=silent)
    verdict = found(run, "server_unresponsive")
    assert verdict is not None and verdict.severity == "critical"
    assert verdict.evidence["unresponsive_s"] == pytest.approx(5.0, abs=0.01)
    assert found(run, "event_loop_blocked") is None  # the sidecar exists: not a blocked loop


def test_a_failing_probe_is_a_verdict():
    run = model(3)
    run.set_probe_failure("RuntimeError: gone")
    verdict = found(run, "probe_failed")
    assert verdict is not None and "RuntimeError: gone" in verdict.message


def test_several_workers_are_named_in_the_blocked_verdict():
    stalls = [stall(1, 0.5, "blocking_call"), stall(3, 0.5, "blocking_call")]
    stalls = [replace(stalls[0], pid=101), replace(stalls[1], pid=202)]
    looks = [
        [sample(s + 0.5, pid=101, threadpool_capacity=40), sample(s + 0.5, pid=202)]
        for s in range(10)
    ]
    run = model(10, looks=looks, stalls=stalls)
    blocked = found(run, "event_loop_blocked")
    assert blocked is not None and "in workers 101, 202" in blocked.message
    assert blocked.evidence["culprits"][0]["pids"] == [101, 202]
    assert [w.pid for w in run.server_totals().workers] == [101, 202]
