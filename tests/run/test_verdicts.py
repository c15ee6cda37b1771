"""loadtui.run.verdicts: every verdict rule at its boundaries, on run models filled by hand
(tests/synthetic.py): milliseconds each, no process or socket."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from loadtui.probing.samples import Holder, ServerSample, Stall, ThreadsLook
from loadtui.report import tables
from loadtui.run import document, gate, verdicts
from loadtui.run.model import RunModel
from loadtui.run.rundoc import Verdict
from tests.synthetic import EPOCH, model, sample, snapshot, stall


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


# ---- a server that answers nothing while requests wait ---------------------------------------
def _stalled(
    answering_s: int = 3,
    silent_s: int = 8,
    *,
    waiting: int = 100,
    latency_ms: float = 20.0,
    samples: Sequence[ServerSample] = (),
    stalls: Sequence[Stall] = (),
    silent_errors: dict[str, int] | None = None,
) -> RunModel:
    """``answering_s`` seconds of quick answers, then ``silent_s`` with none while ``waiting``
    requests wait (``silent_errors``: requests that failed meanwhile, e.g. timeouts)."""
    per_second = [
        snapshot(s, [latency_ms] * 50, in_flight=10, oldest_s=0.05)
        for s in range(1, answering_s + 1)
    ]
    failed = sum((silent_errors or {}).values())
    per_second += [
        snapshot(
            s,
            [1000.0] * failed,
            errors=silent_errors,
            in_flight=waiting,
            oldest_s=float(s - answering_s),
        )
        for s in range(answering_s + 1, answering_s + silent_s + 1)
    ]
    return model(answering_s + silent_s, per_second=per_second, samples=samples, stalls=stalls)


def test_no_answer_while_requests_wait_is_a_stalled_server_with_its_figures():
    run = _stalled()
    verdict = found(run, "server_stalled")
    assert verdict is not None and verdict.severity == "critical"
    assert verdict.message.startswith(
        "No answer for 8 s while 100 requests waited, from 3 s into the run to its end. "
        "When the run ended 100 requests were waiting, the oldest for 8.0 s."
    )
    evidence = verdict.evidence
    assert evidence["longest_s"] == 8 and evidence["waiting_max"] == 100
    assert evidence["stalls"] == [
        {"from_s": 3.0, "seconds": 8.0, "waiting_max": 100, "oldest_s": 8.0, "ongoing": True}
    ]
    assert evidence["in_flight_at_end"] == 100 and evidence["oldest_in_flight_s"] == 8.0
    assert evidence["fastest_second_p50_ms"] == pytest.approx(20.0, rel=0.01)
    assert run.summary().in_flight_at_end == 100 and run.summary().oldest_in_flight_s == 8.0


@pytest.mark.parametrize(("silent_s", "expected"), [(2, None), (3, "warning"), (5, "critical")])
def test_a_stalled_server_from_three_seconds_critical_from_five(silent_s, expected):
    assert severity(_stalled(silent_s=silent_s), "server_stalled") == expected


def test_a_silence_that_ended_is_placed_and_counted():
    per_second = [snapshot(s, [20.0] * 10, in_flight=5, oldest_s=0.1) for s in (1, 2)]
    per_second += [snapshot(s, [], in_flight=40, oldest_s=s - 2.0) for s in range(3, 7)]
    per_second += [snapshot(s, [20.0] * 10, in_flight=5, oldest_s=0.1) for s in range(7, 10)]
    per_second += [snapshot(s, [], in_flight=30, oldest_s=s - 9.0) for s in range(10, 14)]
    per_second += [snapshot(14, [20.0] * 10, in_flight=5, oldest_s=0.1)]
    verdict = found(model(14, per_second=per_second), "server_stalled")
    assert verdict is not None
    assert verdict.message.startswith(
        "No answer for 4 s while 40 requests waited, from 2 s into the run (2 times, 8 s in all)"
    )
    assert [s["ongoing"] for s in verdict.evidence["stalls"]] == [False, False]  # type: ignore[index]


def test_a_route_that_is_simply_slow_is_not_a_stalled_server():
    # one user, 10 s an answer: nine seconds without one, every ten seconds, for a minute
    slow = [
        snapshot(s, [10_000.0], in_flight=1, oldest_s=0.0)
        if s % 10 == 0
        else snapshot(s, [], in_flight=1, oldest_s=float(s % 10))
        for s in range(1, 61)
    ]
    assert found(model(60, per_second=slow), "server_stalled") is None
    # ten users answered together every 5 s (4 s without an answer in between)
    together = [
        snapshot(s, [5000.0] * 10, in_flight=10, oldest_s=0.0)
        if s % 5 == 0
        else snapshot(s, [], in_flight=10, oldest_s=float(s % 5))
        for s in range(1, 61)
    ]
    assert found(model(60, per_second=together), "server_stalled") is None


@pytest.mark.parametrize(("silent_s", "expected"), [(4, None), (5, "critical")])
def test_a_silence_counts_from_five_times_the_fastest_seconds_median(silent_s, expected):
    # answers take 0.99 s at best: a silence is a stall from 4.95 s
    assert severity(_stalled(silent_s=silent_s, latency_ms=990.0), "server_stalled") == expected


def test_seconds_without_answers_and_without_requests_waiting_are_no_stall():
    idle = [snapshot(1, [20.0] * 5)] + [snapshot(s, [], in_flight=0) for s in range(2, 11)]
    assert found(model(10, per_second=idle), "server_stalled") is None


def test_timeouts_are_no_answer_and_error_statuses_are():
    timed_out = _stalled(silent_errors={"timeout": 5})
    assert severity(timed_out, "server_stalled") == "critical"
    assert found(_stalled(silent_errors={"http_500": 5}), "server_stalled") is None


def _meanwhile(**figures: object) -> list[ServerSample]:
    """Server samples through the silent seconds of ``_stalled()`` (seconds 4 to 11)."""
    return [sample(s + 0.5, **figures) for s in range(3, 11)]


FULL_POOL = {"threadpool_capacity": 40, "threadpool_busy": 40, "threadpool_waiting": 60}


@pytest.mark.parametrize(
    ("figures", "seen", "words"),
    [
        (
            {**FULL_POOL, "cpu_percent": 2.0, "requests_in_flight": 100},
            "pool_waiting",
            "40/40 threads busy, up to 60 tasks waiting for one) with the server's CPU at "
            "2%: the threads were waiting, not working, and none came free",
        ),
        (
            {**FULL_POOL, "cpu_percent": 3.0, "background_pending": {"sync": 900}},
            "sync_background_tasks",
            "with 900 sync background tasks pending: they hold the threads the handlers need. "
            "Give them an executor of their own",
        ),
        (
            {**FULL_POOL, "cpu_percent": 180.0},
            "pool_working",
            "the threads were working, not waiting. More threads will not help",
        ),
        (
            {"cpu_percent": 1.0, "requests_in_flight": 10},
            "not_in_app",
            "Only 10 of the 100 reached the app (its in-flight gauge)",
        ),
        (
            {"cpu_percent": 1.0, "requests_in_flight": 100, **FULL_POOL, "threadpool_busy": 3},
            "app_waiting",
            "The app held them (its in-flight gauge read 100), with its loop free and its "
            "thread pool not full and the server's CPU at 1%: its handlers were waiting",
        ),
    ],
)
def test_a_stalled_server_gets_the_cure_that_fits_what_was_seen(figures, seen, words):
    verdict = found(_stalled(samples=_meanwhile(**figures)), "server_stalled")
    assert verdict is not None and verdict.evidence["seen"] == seen
    assert words in verdict.message


def test_a_stalled_server_with_a_blocked_loop_names_the_culprit():
    run = _stalled(samples=_meanwhile(stalled_now=True), stalls=[stall(3, 8, "slow_report")])
    verdict = found(run, "server_stalled")
    assert verdict is not None and verdict.evidence["seen"] == "loop_blocked"
    assert "Its event loop was blocked meanwhile, by slow_report (event_loop_blocked)" in (
        verdict.message
    )


def test_a_stalled_server_seen_from_outside_only_says_what_would_show_more():
    verdict = found(_stalled(), "server_stalled")
    assert verdict is not None and verdict.evidence["seen"] == "nothing_seen"
    assert "instrument(app) shows" in verdict.message


def test_a_healthy_run_with_requests_always_in_flight_has_no_verdict():
    busy = [snapshot(s, [200.0] * 180, in_flight=40, oldest_s=0.2) for s in range(1, 31)]
    samples = [
        sample(s + 0.5, threadpool_capacity=40, threadpool_busy=2, requests_in_flight=40)
        for s in range(30)
    ]
    assert verdicts.compute(model(30, per_second=busy, samples=samples)) == []


# ---- Little's law, only where what was seen does not contradict it -----------------------------
def test_littles_law_is_not_quoted_against_the_in_flight_gauges():
    full = _meanwhile(**FULL_POOL, cpu_percent=2.0, requests_in_flight=100)
    run = _stalled(samples=[sample(s + 0.5, **FULL_POOL) for s in range(3)] + full)
    verdict = found(run, "threadpool_saturated")
    assert verdict is not None and verdict.severity == "critical"
    message = verdict.message
    assert "Little's law" not in message and "Answers stay fast" not in message
    assert "the server held ~100 requests (its own in-flight gauge)" in message
    assert "loadtui had ~75 waiting for an answer" in message  # (3 x 10 + 8 x 100) / 11
    assert "Some were answered (p50 20 ms), but others went unanswered: at the end 100 " in (
        message
    )
    assert "100 requests were still waiting for one, the oldest for 8.0 s." in message
    assert verdict.evidence["littles_law_contradicted"] is True


def test_littles_law_is_quoted_when_the_gauges_agree():
    per_second = [snapshot(s, [100.0] * 10, in_flight=1, oldest_s=0.05) for s in range(1, 11)]
    samples = [sample(s + 0.5, **FULL_POOL, requests_in_flight=1) for s in range(10)]
    verdict = found(model(10, per_second=per_second, samples=samples), "threadpool_saturated")
    assert verdict is not None and verdict.severity == "warning"
    assert "By Little's law 10.0 req/s x 0.10 s mean latency means ~1 requests" in (verdict.message)
    assert "Answers stay fast" in verdict.message


def saturated_loop(stalls: list[Stall], on_cpu: float = 1.0) -> RunModel:
    """Ten seconds whose loop ran render_report 95 % of each second, with ``stalls``."""
    found = model(10, stalls=stalls)
    busy = Holder("render_report", "app.py:9", "time.perf_counter", 0.95, on_cpu)
    epoch = int(EPOCH)
    found.add_threads([ThreadsLook(epoch + s, 1, 0.95, loop=(busy,)) for s in range(10)])
    return found


def test_a_saturated_loops_late_heartbeats_are_not_a_blocked_loop():
    lags = [stall(s + 0.5, 0.12, "render_report") for s in (2, 4, 6)]
    found = {v.code: v for v in verdicts.compute(saturated_loop(lags))}
    assert "event_loop_blocked" not in found
    saturated = found["event_loop_saturated"]
    assert "render_report (app.py:9) → time.perf_counter" in saturated.message
    assert "Its heartbeat came late 3 times (at most 0.12 s)" in saturated.message


def test_a_saturated_loops_late_heartbeats_are_not_counted_as_stalls():
    lags = [stall(s + 0.5, 0.12, "render_report") for s in (2, 4, 6)]
    doc = document.build(saturated_loop([*lags, stall(8, 0.6, "render_report")]))
    assert [s.saturation_lag for s in doc.server.stalls] == [True, True, True, False]
    assert [s.duration_s for s in doc.server.blocking_stalls] == [0.6]
    assert tables.stall_cell(doc) == "1 (0.6s)"
    assert gate.observed(doc, gate.parse_threshold("stalls<2")) == 1.0


def test_short_stalls_of_a_loop_held_in_sleeps_are_blocking_stalls_not_lag():
    # an async def route calling time.sleep: the loop "runs code" all the time, off CPU (seen in
    # CI on the demo's route 4: a 0.21 s stall in a spell of sleeps was taken for lag)
    sleeps = [stall(s + 0.5, 0.2, "render_report") for s in (2, 4, 6)]
    doc = document.build(saturated_loop(sleeps, on_cpu=0.003))
    assert [s.saturation_lag for s in doc.server.stalls] == [False, False, False]
    assert tables.stall_cell(doc) == "3 (0.2s)"


def test_no_banner_for_a_young_stall_while_the_loop_is_saturated():
    run = saturated_loop([])
    run.add_stalls([replace(stall(9.8, 0.1, "render_report"), ongoing=True)])
    assert run.stall_now() is None
    run.add_stalls([replace(stall(9.8, 0.4, "render_report"), ongoing=True)])
    now = run.stall_now()
    assert now is not None and now.seconds == 0.4
    calm = model(10)
    calm.add_stalls([replace(stall(9.8, 0.1, "render_report"), ongoing=True)])
    assert calm.stall_now() is not None  # a loop not seen saturated: shown at once


def test_a_saturated_loops_lag_stretched_by_a_busy_machine_is_still_its_lag():
    starved = replace(stall(3, 0.6, "render_report"), runqueue_share=0.75)  # 0.15 s its own
    found = {v.code for v in verdicts.compute(saturated_loop([starved]))}
    assert "event_loop_blocked" not in found and "event_loop_saturated" in found


def test_a_long_stall_inside_a_saturated_loop_is_still_a_blocked_loop():
    found = {v.code for v in verdicts.compute(saturated_loop([stall(3, 0.6, "render_report")]))}
    assert "event_loop_blocked" in found
    other = {v.code for v in verdicts.compute(saturated_loop([stall(3, 0.12, "load_config")]))}
    assert "event_loop_blocked" in other  # a stall named after another function is its own


@pytest.mark.parametrize(
    ("on_cpu", "cure"),
    [
        (0.46, "They burn CPU: more threads will not help"),  # hashing, 40 threads, 2 busy cores
        (0.003, "They wait: more thread-pool tokens"),  # time.sleep
    ],
)
def test_the_pools_cure_follows_what_its_holder_was_doing(on_cpu, cure):
    per_second = [snapshot(s, [100.0] * 10, in_flight=1, oldest_s=0.05) for s in range(1, 11)]
    samples = [sample(s + 0.5, **FULL_POOL, requests_in_flight=1) for s in range(10)]
    run = model(10, per_second=per_second, samples=samples)
    hashing = Holder("hash_password", "app.py:10", "hashlib.pbkdf2_hmac", 40.0, on_cpu)
    run.add_threads([ThreadsLook(int(EPOCH) + s, 1, 0.1, pool=(hashing,)) for s in range(10)])
    verdict = found(run, "threadpool_saturated")
    assert verdict is not None and cure in verdict.message


def test_a_pool_held_by_threads_running_python_is_told_the_gil_not_more_tokens():
    # forty threads of pure-Python work: each on CPU 4 % of the time (asleep to the kernel while
    # it waits for the GIL), found at a Python instruction in every look
    per_second = [snapshot(s, [100.0] * 10, in_flight=1, oldest_s=0.05) for s in range(1, 11)]
    samples = [sample(s + 0.5, **FULL_POOL, requests_in_flight=1) for s in range(10)]
    run = model(10, per_second=per_second, samples=samples)
    invoice = Holder("render_invoice", "app.py:20", "", 40.0, 0.04, python=0.97)
    run.add_threads([ThreadsLook(int(EPOCH) + s, 1, 0.1, pool=(invoice,)) for s in range(10)])
    verdict = found(run, "threadpool_saturated")
    assert verdict is not None, verdicts.compute(run)
    assert "render_invoice (app.py:20) 100% (running Python)" in verdict.message
    assert "one thread at a time (the GIL): more threads will not help" in verdict.message
    assert "more thread-pool tokens" not in verdict.message


# ---- the server's CPU, or its GIL, as its limit ------------------------------------------------
def cpu_run(
    holders: Sequence[Holder],
    *,
    cpu_percent: float = 190.0,
    cores: int | None = 2,
    seconds: int = 10,
    busy_seconds: int = 10,
    loop: Sequence[Holder] = (),
) -> RunModel:
    """A run whose server (one worker, ``cores`` CPUs) had ``holders`` in its pool in the first
    ``busy_seconds`` seconds, at ``cpu_percent``."""
    samples = [
        sample(s + 0.5, cpu_percent=cpu_percent, cpu_cores=cores, pid=1) for s in range(seconds)
    ]
    run = model(seconds, samples=samples)
    run.add_threads(
        [
            ThreadsLook(
                int(EPOCH) + s, 1, 0.9 if loop else 0.1, loop=tuple(loop), pool=tuple(holders)
            )
            for s in range(busy_seconds)
        ]
    )
    return run


HASHING = Holder("hash_password", "app.py:10", "hashlib.pbkdf2_hmac", 24.0, 0.7)
SPINNING = Holder("render_invoice", "app.py:20", "", 3.0, 0.05, python=1.0)
SLEEPING = Holder("read_items", "app.py:30", "time.sleep", 40.0, 0.003)


def test_threads_wanting_more_cpu_than_the_cores_name_what_burns_it():
    verdict = found(cpu_run([HASHING, SLEEPING]), "server_cpu_bound")
    assert verdict is not None and verdict.severity == "warning"
    assert verdict.evidence["limit"] == "cores" and verdict.evidence["cores"] == 2
    assert "its threads wanted 16.9 cores' worth on average" in verdict.message
    assert "with 2 cores to run on; its processes got 190% (95% of the cores)" in verdict.message
    assert "hash_password (app.py:10) → hashlib.pbkdf2_hmac 100% (on CPU)" in verdict.message
    assert "read_items" not in verdict.message  # it waits: not burning CPU
    assert "give the server more cores" in verdict.message


def test_cores_taken_by_other_processes_are_said_so():
    verdict = found(cpu_run([HASHING], cpu_percent=70.0), "server_cpu_bound")
    assert verdict is not None and verdict.evidence["limit"] == "cores"
    assert "got 70% (35% of the cores), other processes on the machine the rest" in (
        verdict.message
    )


def test_threads_taking_turns_for_the_gil_are_told_to_use_processes():
    verdict = found(cpu_run([SPINNING, SLEEPING], cpu_percent=99.0), "server_cpu_bound")
    assert verdict is not None and verdict.evidence["limit"] == "gil"
    assert "3.0 threads on average were running Python at once in its process" in (verdict.message)
    assert "render_invoice (app.py:20) 100% (running Python)" in verdict.message
    assert "More worker processes will (uvicorn --workers 2, on 2 cores)" in verdict.message
    many = found(cpu_run([SPINNING], cores=8), "server_cpu_bound")
    assert many is not None and "uvicorn --workers 2-8, on 8 cores" in many.message
    one = found(cpu_run([SPINNING], cores=1), "server_cpu_bound")
    assert one is not None and "More threads or processes will not help on 1 core" in one.message


@pytest.mark.parametrize(
    ("holders", "cores", "busy_seconds", "loop"),
    [
        ([SLEEPING], 2, 10, ()),  # forty threads waiting: nothing burns CPU
        ([HASHING], 2, 2, ()),  # two seconds are not a limit
        ([HASHING], 32, 10, ()),  # 17 cores' worth of 32
        ([HASHING], None, 10, ()),  # the server's cores not known: no judging them
        ([replace(SPINNING, threads=1.2)], 2, 10, ()),  # one thread's Python at a time: no turns
        ([], 2, 10, [Holder("render_report", "app.py:9", "", 0.95, 1.0, python=1.0)]),
    ],
)
def test_no_cpu_limit_without_the_cpu_or_the_gil_wanted_past_it(holders, cores, busy_seconds, loop):
    run = cpu_run(holders, cores=cores, busy_seconds=busy_seconds, loop=loop)
    assert found(run, "server_cpu_bound") is None


def test_a_starved_loop_points_at_what_took_the_cpu_when_that_is_known():
    starved = stall(1, 0.3, "event loop internals (no application frame)")
    run = cpu_run([SPINNING])
    run.add_stalls([starved])
    verdict = found(run, "loop_starved")
    assert verdict is not None and "server_cpu_bound names the functions" in verdict.message
    calm = model(10, stalls=[starved])
    verdict = found(calm, "loop_starved")
    assert verdict is not None and "server_cpu_bound" not in verdict.message
