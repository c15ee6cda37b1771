"""Plain-English diagnoses of a run, each with its evidence.

Rules only judge: every figure they weigh comes from the run model's statistics
(:mod:`loadtui.run.stats`), and every threshold they judge by is named here once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

from pydantic import JsonValue

from loadtui.formats import code_at, duration, plural
from loadtui.probing.samples import SIGNAL_HEARTBEAT, SIGNAL_SIDECAR
from loadtui.run import holders, saturation, stats
from loadtui.run.model import RunModel
from loadtui.run.rundoc import (
    SEVERITY_ORDER,
    Severity,
    StallWindow,
    ThreadsSecond,
    Verdict,
)

POOL_SATURATED_MIN_SECONDS = 2
POOL_SLOW_P50_MS = 1000.0  # requests queueing this long for a thread make saturation critical
BACKLOG_MIN_TASKS = 50
ERRORS_CRITICAL_FRACTION = 0.05
UNREACHABLE_FRACTION = 0.05
HEARTBEAT_UNANSWERED_MIN_S = 1.0  # without a sidecar, this long unanswered counts as blocked
UNRESPONSIVE_MIN_S = 1.0  # the whole server silent this long
UNRESPONSIVE_CRITICAL_S = 5.0
STALL_CRITICAL_SHARE, STALL_CRITICAL_LONGEST_S = 0.1, 1.0
STALL_WARNING_SHARE, STALL_WARNING_LONGEST_S = 0.01, 0.25
LOOP_SATURATED_STALL_SHARE = 0.5  # stalls covering this much of them: a blocked loop instead
HOLDERS_NAMED = 3
HOLDER_SHOWN_SHARE = 0.005  # a holder below this share (0 % when shown) is left out of the words
GC_CULPRIT = "gc.collect"
NO_APP_FRAME = "event loop internals"  # the sidecar's culprit when no application code ran
# Little's law is not quoted when what was seen holds this many times more requests (and a few)
LITTLE_CONTRADICTED_FACTOR, LITTLE_CONTRADICTED_SLACK = 1.5, 3.0
# server_stalled: no answer this long while requests waited (stats keeps silences from here) ...
STALLED_MIN_S = stats.SILENCE_MIN_S
# ... and this many times as long as the median of the server's fastest second: a route that is
# simply slow (every answer takes 10 s) has silences as long as its answers take
STALLED_FACTOR = 5.0
STALLED_CRITICAL_S = 5.0
SEEN_MOST = 0.5  # a sign seen in at least this share of the silent seconds explains them
CPU_IDLE_PERCENT = 25.0  # the server's CPU (of one core) below this: its threads wait
CPU_BUSY_PERCENT = 80.0  # ... at least this: they work
# The server's threads wanting at least this share of its cores (on one, or ready and waiting
# for one: schedstat), second after second: the cores are its limit.
CPU_BOUND_SHARE = 0.75
CPU_BOUND_MIN_SECONDS = 3
# Threads running Python at once in a worker (the loop's share of the second included): above
# one they take turns for the GIL, and at this many the turns are the limit.
GIL_BOUND_THREADS = 1.5
# stream_gaps: a gap between two pieces of a stream, at least this share of a stall as long, that
# ended in the second the stall ended in (or this soon after): the stall held the stream
STREAM_GAP_SHARE = 0.8
STREAM_GAP_SLACK_S = 0.25


# ---- event loop ----------------------------------------------------------------------------
def _stall_severity(share: float, longest: float) -> Severity:
    if share >= STALL_CRITICAL_SHARE or longest >= STALL_CRITICAL_LONGEST_S:
        return "critical"
    if share >= STALL_WARNING_SHARE or longest >= STALL_WARNING_LONGEST_S:
        return "warning"
    return "info"


def _stall_verdict(
    model: RunModel, windows: Sequence[StallWindow], code: str, advice: str
) -> Verdict:
    by_culprit: dict[str, list[StallWindow]] = defaultdict(list)
    for window in windows:
        by_culprit[window.culprit].append(window)
    total = sum(w.duration_s for w in windows)
    longest = max(w.duration_s for w in windows)
    share = min(1.0, total / max(model.elapsed_s(), 1e-9))
    ranked = sorted(by_culprit.values(), key=lambda group: -sum(w.duration_s for w in group))
    culprits = [
        {
            "culprit": group[0].culprit,
            "location": "" if _is_gc(group[0]) else group[0].location,  # not a file:line
            "leaf": group[0].leaf,
            "stalls": len(group),
            "total_s": round(sum(w.duration_s for w in group), 3),
            "longest_s": round(max(w.duration_s for w in group), 3),
            "pids": sorted({w.pid for w in group if w.pid is not None}),
        }
        for group in ranked
    ]
    several = model.workers > 1
    named = "; ".join(
        f"{code_at(c['culprit'], c['location'], c['leaf'])} "
        f"({plural(c['stalls'], 'stall')}, {c['total_s']:.1f} s"
        + (f", in {_pids(c['pids'])}" if several and c["pids"] else "")
        + ")"
        for c in culprits[:3]
    )
    times = "once" if len(windows) == 1 else f"{len(windows)} times"
    message = (
        f"The event loop was blocked {times}, {total:.1f} s in total "
        f"({share:.0%} of the run), longest {longest:.1f} s. Culprit: {named}. " + advice
    )
    evidence = {
        "stalls": len(windows),
        "total_s": round(total, 3),
        "longest_s": round(longest, 3),
        "culprits": culprits,
    }
    return Verdict(
        code=code,
        severity=_stall_severity(share, longest),
        message=message,
        evidence=evidence,
    )


def _stalls_in_streams(model: RunModel) -> list[tuple[StallWindow, float]]:
    """Each stall a stream's gap spanned, with the longest such gap (ms): the gap ends when the
    stall does (the next piece comes once the loop runs again), in that second or just after."""
    start = model.started_epoch
    seconds = [(e.t - e.length_s, e.t, e.gap_max_ms) for e in model.timeline() if e.gap_max_ms]
    if start is None or not seconds:
        return []
    found = []
    for window in model.stall_windows():
        if window.ongoing:
            continue
        end = window.started_at.timestamp() + window.duration_s - start
        gaps = [
            g for began, ended, g in seconds if began <= end + STREAM_GAP_SLACK_S and ended >= end
        ]
        if gaps and max(gaps) >= STREAM_GAP_SHARE * window.duration_s * 1000:
            found.append((window, max(gaps)))
    return found


def stream_gaps(model: RunModel) -> Verdict | None:
    """Streams (SSE, chunked) whose longest gaps were the event loop's stalls: named after the
    code that stalled it. Nothing on a stream whose gaps no stall explains."""
    stream = model.summary().stream
    tied = _stalls_in_streams(model) if stream is not None else []
    if stream is None or not tied:
        return None
    longest = max(gap for _, gap in tied)
    by_culprit: dict[str, StallWindow] = {}
    for window, _ in sorted(tied, key=lambda pair: -pair[1]):
        by_culprit.setdefault(window.culprit, window)
    named = "; ".join(code_at(w.culprit, w.location, w.leaf) for w in by_culprit.values())
    names = [r.name for r in model.request_stats() if r.stream is not None]
    which = f" ({', '.join(names)})" if names else ""
    message = (
        f"Streaming responses{which} stopped mid-stream while the event loop was blocked: "
        f"gaps between their pieces of up to {duration(longest / 1000)} ended with "
        f"{plural(len(tied), 'stall')} (gap p99 {stream.gap_ms.p99 or 0:.0f} ms). Culprit: "
        f"{named}. A blocked loop sends nothing to any stream; run blocking code in a thread "
        "(run_in_threadpool) or make it truly async."
    )
    return Verdict(
        code="stream_gaps",
        severity="warning",
        message=message,
        evidence={
            "stalls": len(tied),
            "longest_gap_ms": round(longest, 3),
            "gap_p99_ms": stream.gap_ms.p99,
            "requests": list(names),
            "culprits": [
                {"culprit": w.culprit, "location": w.location, "leaf": w.leaf}
                for w in by_culprit.values()
            ],
        },
    )


def _pids(pids: list[int]) -> str:
    return ("worker " if len(pids) == 1 else "workers ") + ", ".join(map(str, pids))


def _is_gc(window: StallWindow) -> bool:
    return window.culprit.startswith(GC_CULPRIT)


def _is_app(window: StallWindow) -> bool:
    return not (_is_gc(window) or window.culprit.startswith(NO_APP_FRAME))


def event_loop_blocked(model: RunModel) -> Verdict | None:
    windows = [w for w in model.stall_windows() if _is_app(w) and not w.saturation_lag]
    if not windows:
        return _blocked_by_heartbeat(model)
    advice = (
        "While it is blocked no request makes progress; run blocking code in a thread "
        "(run_in_threadpool) or make it truly async."
    )
    return _stall_verdict(model, windows, "event_loop_blocked", advice)


def _at_most_warning(verdict: Verdict) -> Verdict:
    """Stalls the app's code did not cause are a warning however long: a different cure."""
    if verdict.severity == "critical":
        return verdict.model_copy(update={"severity": "warning"})
    return verdict


def gc_pauses(model: RunModel) -> Verdict | None:
    """Collector passes long enough to count as stalls: a different cure from blocking code."""
    windows = [w for w in model.stall_windows() if _is_gc(w)]
    if not windows:
        return None
    advice = (
        "The garbage collector held the loop: the server keeps many live objects (thousands "
        "of pending tasks, say). Fewer live objects, gc.freeze() after startup or a higher "
        "gc threshold shorten the pauses."
    )
    return _at_most_warning(_stall_verdict(model, windows, "gc_pauses", advice))


def loop_starved(model: RunModel) -> Verdict | None:
    """Stalls with no application code on the loop's stack: the process was short of CPU or
    of the GIL (busy threads, a busy machine). A different cure from blocking code."""
    windows = [w for w in model.stall_windows() if w.culprit.startswith(NO_APP_FRAME)]
    if not windows:
        return None
    advice = (
        "No application code was running: the loop was kept waiting for the CPU or the GIL "
        "(many busy threads in the process, or a machine busier than its cores)."
    )
    if server_cpu_bound(model) is not None:
        advice += " server_cpu_bound names the functions that took them."
    return _at_most_warning(_stall_verdict(model, windows, "loop_starved", advice))


def _blocked_by_heartbeat(model: RunModel) -> Verdict | None:
    """Without a sidecar: heartbeats that stop answering are the only sign."""
    available = model.signals.available
    if SIGNAL_HEARTBEAT not in available or SIGNAL_SIDECAR in available:
        return None
    unanswered, _ = model.unanswered_s()
    if unanswered < HEARTBEAT_UNANSWERED_MIN_S:
        return None
    message = (
        f"The app's /heartbeat went unanswered about {unanswered:.1f} s in total: its event "
        "loop was blocked (or the whole process stalled). Without the metrics sidecar the "
        "culprit cannot be named; instrument(app) adds it."
    )
    return Verdict(
        code="event_loop_blocked",
        severity="warning",
        message=message,
        evidence={"heartbeat_unanswered_s": round(unanswered, 3)},
    )


def server_unresponsive(model: RunModel) -> Verdict | None:
    """Neither the app nor its sidecar answered: not a blocked loop, a stopped process."""
    _, silent = model.unanswered_s()
    if silent < UNRESPONSIVE_MIN_S:
        return None
    message = (
        f"The server answered nothing for {silent:.1f} s in total: neither its /heartbeat "
        "nor its metrics sidecar, which answers even while the event loop is blocked. The "
        "whole process was stopped or starved (SIGSTOP, a debugger, swapping, a CPU limit)."
    )
    return Verdict(
        code="server_unresponsive",
        severity="critical" if silent >= UNRESPONSIVE_CRITICAL_S else "warning",
        message=message,
        evidence={"unresponsive_s": round(silent, 3)},
    )


def probe_failed(model: RunModel) -> Verdict | None:
    if model.probe_failure is None:
        return None
    message = (
        f"The probe that watches the server failed ({model.probe_failure}): server-side "
        "figures may be missing from then on. Client-side figures are complete."
    )
    return Verdict(
        code="probe_failed",
        severity="warning",
        message=message,
        evidence={"failure": model.probe_failure},
    )


# ---- thread pool -----------------------------------------------------------------------------
def _unanswered(model: RunModel) -> str | None:
    """How many requests got no answer and for how long, when some waited a second or more."""
    summary = model.summary()
    waiting, oldest = summary.in_flight_at_end, summary.oldest_in_flight_s
    if not waiting or oldest is None or oldest * 1000 < POOL_SLOW_P50_MS:
        return None
    when = "at the end" if model.finished else "now"
    return (
        f"{when} {plural(waiting, 'request')} {'was' if waiting == 1 else 'were'} still waiting "
        f"for one, the oldest for {oldest:.1f} s"
    )


def threadpool_saturated(model: RunModel) -> Verdict | None:
    seconds = model.seconds
    if seconds.pool_saturated_seconds < POOL_SATURATED_MIN_SECONDS:
        return None
    capacity = seconds.pool_capacity_saturated or 0
    waiting_max = seconds.pool_waiting_max_saturated
    summary = model.summary()
    p50 = summary.latency_ms.p50
    mean_s = (summary.latency_ms.mean or 0.0) / 1000.0
    in_system = stats.littles_law(summary.rps, summary.latency_ms.mean)
    # Little's law counts only the requests that were answered: what the server's own gauge
    # and the engines' requests in flight saw is quoted instead when it holds far more
    server_seen, waiting_seen = seconds.in_flight_seen()
    seen = max((v for v in (server_seen, waiting_seen) if v is not None), default=None)
    contradicted = (
        seen is not None
        and seen > LITTLE_CONTRADICTED_FACTOR * in_system + LITTLE_CONTRADICTED_SLACK
    )
    if contradicted:
        held = []
        if server_seen is not None:
            held.append(f"the server held ~{server_seen:.0f} requests (its own in-flight gauge)")
        if waiting_seen is not None:
            held.append(f"loadtui had ~{waiting_seen:.0f} waiting for an answer")
        inside = "While it was full, " + " and ".join(held) + "."
    else:
        inside = (
            f"By Little's law {summary.rps:.1f} req/s x {mean_s:.2f} s mean latency means "
            f"~{in_system:.0f} requests inside the server at once, while all {capacity} threads "
            "are taken."
        )
    slow = p50 is not None and p50 >= POOL_SLOW_P50_MS
    unanswered = _unanswered(model)
    held = holders.shares(model.threads(), "pool")
    handlers_hold = bool(held) and not held[0].holder.background
    if slow and p50 is not None:
        effect = f"Requests queue for a thread: p50 latency {p50 / 1000:.1f} s."
    elif unanswered is not None or contradicted:
        came = f"Some were answered (p50 {p50:.0f} ms), but" if p50 is not None else "But"
        effect = f"{came} others went unanswered" + (f": {unanswered}." if unanswered else ".")
    elif handlers_hold and p50 is not None:
        effect = f"Requests take turns for a thread (p50 latency {p50:.0f} ms)."
    elif held or p50 is None:  # only background tasks were seen holding it
        effect = "Answers stay fast (the handlers do not need the pool), but work queues behind it."
    else:
        effect = f"Answers stay fast (p50 {p50:.0f} ms), but work queues behind it."
    message = (
        f"The thread pool was full for {seconds.pool_saturated_seconds} of {seconds.seconds} s: "
        f"{capacity}/{capacity} threads busy, up to {waiting_max} tasks waiting. {inside} {effect}"
    )
    pids = model.pool_saturated_pids()
    if model.workers > 1 and pids:
        message += f" Saturated: {_pids(pids)}."
    message += _holding(held, "the threads") + _cure(held)
    evidence: dict[str, JsonValue] = {
        "holders": _holder_evidence(held),
        "pids": pids,
        "seconds_saturated": seconds.pool_saturated_seconds,
        "capacity": capacity,
        "waiting_max": waiting_max,
        "littles_law_in_flight": round(in_system, 1),
        "littles_law_contradicted": contradicted,
        "server_in_flight_max": seconds.in_flight_max or 0,
        "server_in_flight_mean": None if server_seen is None else round(server_seen, 1),
        "waiting_mean": None if waiting_seen is None else round(waiting_seen, 1),
    }
    return Verdict(
        code="threadpool_saturated",
        severity="critical" if slow or unanswered is not None or contradicted else "warning",
        message=message,
        evidence=evidence,
    )


# ---- a server that answers nothing while requests wait ---------------------------------------
def _stalled(model: RunModel) -> list[stats.Silence]:
    """The silences long enough to be a stall: STALLED_MIN_S, and STALLED_FACTOR times the
    median of the server's fastest second (when it ever answered every request of one)."""
    running = model.seconds.silence
    fastest = running.fastest_p50_ms
    floor = STALLED_MIN_S
    if fastest is not None:
        floor = max(floor, STALLED_FACTOR * fastest / 1000.0)
    return [s for s in running.silences() if s.seconds >= floor]


def _most(part: float, whole: float) -> bool:
    return whole > 0 and part >= SEEN_MOST * whole


def _loop_culprit(model: RunModel, silences: Sequence[stats.Silence]) -> str | None:
    """The application function that held the loop longest during the silences."""
    start = model.started_epoch
    if start is None:
        return None
    by_culprit: dict[str, float] = defaultdict(float)
    for window in model.stall_windows():
        began = window.started_at.timestamp() - start
        ended = began + window.duration_s
        if _is_app(window) and any(
            began < s.start_s + s.seconds and s.start_s < ended for s in silences
        ):
            by_culprit[window.culprit] += window.duration_s
    return max(by_culprit, key=lambda culprit: by_culprit[culprit]) if by_culprit else None


def _stalled_seen(model: RunModel, silences: Sequence[stats.Silence]) -> tuple[str, str]:
    """What else was seen while nothing was answered, and its cure, in plain words: (a key
    for the evidence, the words)."""
    total = sum(s.seconds for s in silences)
    sampled = sum(s.server_seconds for s in silences)
    cpu_count = sum(s.cpu_count for s in silences)
    cpu = sum(s.cpu_sum for s in silences) / cpu_count if cpu_count else None
    cpu_words = f"the server's CPU at {cpu:.0f}%" if cpu is not None else ""
    _, silent = model.unanswered_s()
    if _most(silent, total):
        return "process_stopped", (
            "Its metrics sidecar went silent too (server_unresponsive): the whole process was "
            "stopped or starved (SIGSTOP, a debugger, swapping, a CPU limit), not one request."
        )
    if _most(sum(s.loop_stalled_seconds for s in silences), sampled):
        culprit = _loop_culprit(model, silences)
        if culprit is None:
            return "loop_stalled", (
                "Its event loop was stalled meanwhile with no application code on it "
                "(loop_starved, gc_pauses): nothing is answered while the loop cannot run."
            )
        return "loop_blocked", (
            f"Its event loop was blocked meanwhile, by {culprit} (event_loop_blocked): "
            "nothing is answered while it is. Run that call in a thread (run_in_threadpool) or "
            "make it truly async."
        )
    if _most(sum(s.pool_saturated_seconds for s in silences), sampled):
        capacity = max((s.pool_capacity or 0 for s in silences), default=0)
        queued = max(s.pool_waiting_max for s in silences)
        full = (
            f"Its thread pool was full meanwhile ({capacity}/{capacity} threads busy, up to "
            f"{queued} tasks waiting for one)"
        )
        sync = max((s.sync_pending or 0 for s in silences), default=0)
        if sync:
            return "sync_background_tasks", (
                f"{full}, with {sync:,} sync background tasks pending: they hold the threads "
                "the handlers need. Give them an executor of their own, or make them async."
            )
        if cpu is not None and cpu >= CPU_BUSY_PERCENT:
            return "pool_working", (
                f"{full}, {cpu_words}: the threads were working, not waiting. More threads "
                "will not help; make the work cheaper or run more processes."
            )
        held = holders.shares(model.threads(), "pool")
        if held and held[0].holder.waiting_for:  # the stack sampler saw what they wait on
            return "pool_waiting", (
                f"{full}" + _holding(held, "the threads") + _cure(held) + " A connection taken "
                "in a dependency and needed again in the route deadlocks once every thread waits."
            )
        pid = model.target.pid or "PID"
        where = (
            _holding(held, "the threads")
            if held
            else " A dump of the server's threads (py-spy dump --pid "
            f"{pid}) shows what they wait on."
        )
        return "pool_waiting", (
            f"{full}"
            + (f" with {cpu_words}" if cpu_words else "")
            + ": the threads were waiting, not working, and none came free. More threads do "
            "not help when they wait for what requests queued behind them hold (a connection "
            "from a pool smaller than the thread pool, taken in a dependency and needed again "
            "in the route; a lock)." + where
        )
    gauge = max((s.server_in_flight_max for s in silences if s.server_in_flight_max is not None),
                default=None)  # fmt: skip
    waiting = max(s.waiting_max for s in silences)
    if gauge is not None and gauge * 2 < waiting:
        return "not_in_app", (
            f"Only {gauge} of the {waiting} reached the app (its in-flight gauge): the others "
            "waited in front of it (the server's listen backlog or connection limit, a proxy)."
        )
    if gauge is not None:
        held = f"The app held them (its in-flight gauge read {gauge})"
        if cpu is not None and cpu >= CPU_BUSY_PERCENT:
            return "app_working", (
                f"{held}, with its loop free, its thread pool not full and {cpu_words}: it was "
                "busy but finished nothing. Make the work cheaper or run more processes."
            )
        return "app_waiting", (
            f"{held}, with its loop free and its thread pool not full"
            + (f" and {cpu_words}" if cpu_words else "")
            + ": its handlers were waiting for something that did not answer (a database, "
            "another service, a lock). Give what they wait for a timeout and find what it is."
        )
    return "nothing_seen", (
        "Nothing was seen of the server meanwhile (no metrics sidecar): instrument(app) shows "
        "whether its event loop, its thread pool or something it waits on held the requests."
    )


def server_stalled(model: RunModel) -> Verdict | None:
    """Seconds in a row with no answer at all while requests waited, whatever the cause: a
    blocked loop, a deadlocked pool, a database that does not answer."""
    silences = _stalled(model)
    if not silences:
        return None
    longest = max(silences, key=lambda s: s.seconds)
    total = sum(s.seconds for s in silences)
    waited = plural(longest.waiting_max, "request")
    verb = "waited" if model.finished or not longest.ongoing else "wait"
    message = f"No answer for {longest.seconds:.0f} s while {waited} {verb}"
    message += f", from {longest.start_s:.0f} s into the run" + (
        " to its end" if longest.ongoing and model.finished else ""
    )
    if len(silences) > 1:
        message += f" ({len(silences)} times, {total:.0f} s in all)"
    summary = model.summary()
    if summary.in_flight_at_end and summary.oldest_in_flight_s is not None:
        when = "When the run ended" if model.finished else "Now"
        waiting = summary.in_flight_at_end
        message += (
            f". {when} {plural(waiting, 'request')} {'was' if waiting == 1 else 'were'} "
            f"waiting, the oldest for {summary.oldest_in_flight_s:.1f} s"
        )
    seen, words = _stalled_seen(model, silences)
    message += f". {words}"
    fastest = model.seconds.silence.fastest_p50_ms
    evidence: dict[str, JsonValue] = {
        "longest_s": round(longest.seconds, 3),
        "waiting_max": longest.waiting_max,
        "total_s": round(total, 3),
        "stalls": [
            {
                "from_s": round(s.start_s, 3),
                "seconds": round(s.seconds, 3),
                "waiting_max": s.waiting_max,
                "oldest_s": s.oldest_s,
                "ongoing": s.ongoing,
            }
            for s in silences[:20]
        ],
        "in_flight_at_end": summary.in_flight_at_end,
        "oldest_in_flight_s": summary.oldest_in_flight_s,
        "fastest_second_p50_ms": fastest,
        "seen": seen,
    }
    return Verdict(
        code="server_stalled",
        severity="critical" if longest.seconds >= STALLED_CRITICAL_S else "warning",
        message=message,
        evidence=evidence,
    )


# ---- who holds the threads (the sidecars' stack samplers) -----------------------------------
def _holding(held: list[holders.Share], what: str) -> str:
    """ " Holding the threads: f (app.py:3) → time.sleep 80 % (waiting), ..." or ""."""
    if not held:
        return ""
    named = "; ".join(
        f"{holders.named(s.holder)} {s.share:.0%} ({holders.doing(s)}"
        + (", a background task)" if s.holder.background else ")")
        for i, s in enumerate(held[:HOLDERS_NAMED])
        if i == 0 or s.share >= HOLDER_SHOWN_SHARE
    )
    return f" Holding {what}: {named}."


def _cure(held: list[holders.Share]) -> str:
    """The cure that fits what the biggest holder was seen doing."""
    if not held:
        return ""
    top = held[0]
    if top.holder.waiting_for:
        size = f" ({top.holder.db_pool})" if top.holder.db_pool else ""
        return (
            f" The threads wait for a {top.holder.waiting_for}: the database pool{size}, not "
            "the thread pool, is the limit; more threads will not help. A bigger database pool, "
            "shorter sessions or fewer queries at once will."
        )
    if top.holder.background:
        return (
            " Sync background tasks hold threads the handlers need: give them an executor of "
            "their own, or make them async."
        )
    if top.runs_python:
        return (
            " They run Python, and a process runs Python in one thread at a time (the GIL): more "
            "threads will not help. Make the work cheaper, or spread it over processes (uvicorn "
            "--workers N, a ProcessPoolExecutor)."
        )
    if top.on_cpu:
        return (
            " They burn CPU: more threads will not help. Make the work cheaper, or move it to "
            "processes (a ProcessPoolExecutor, more workers)."
        )
    return (
        " They wait: more thread-pool tokens (instrument(app, threads=N)) or an async client "
        "(httpx.AsyncClient, asyncio.sleep) let more requests through."
    )


def _holder_evidence(held: list[holders.Share]) -> list[JsonValue]:
    return [
        {**s.holder.model_dump(), "share": round(s.share, 3)} for s in held[: 2 * HOLDERS_NAMED]
    ]


def event_loop_saturated(model: RunModel) -> Verdict | None:
    """The loop ran code nearly every moment for seconds, in steps each too short to stall it:
    saturated by CPU work on the loop, not blocked by one call."""
    busy = saturation.busy_run(model.threads())
    if len(busy) < saturation.LOOP_SATURATED_MIN_SECONDS:
        return None
    windows = model.stall_windows()
    late = [w for w in windows if w.saturation_lag]
    stalled = sum(w.duration_s for w in windows if not w.saturation_lag)
    if stalled >= LOOP_SATURATED_STALL_SHARE * len(busy):
        return None  # event_loop_blocked explains these seconds
    held = holders.shares(busy, "loop")
    mean = sum(s.loop_busy or 0.0 for s in busy) / len(busy)
    message = (
        f"The event loop ran code {mean:.0%} of the time for {len(busy)} s in a row, in steps "
        "each too short to count as a stall: it is saturated, and every request waits its turn."
        + _holding(held, "the loop")
        + (
            f" Its heartbeat came late {plural(len(late), 'time')} (at most "
            f"{max(w.duration_s for w in late):.2f} s), queued behind that work: not one call "
            "blocking it."
            if late
            else ""
        )
        + " Make the work on the loop cheaper, or move CPU-heavy work to processes (a "
        "ProcessPoolExecutor, uvicorn --workers N)."
    )
    return Verdict(
        code="event_loop_saturated",
        severity="warning",
        message=message,
        evidence={
            "seconds": len(busy),
            "loop_busy_mean": round(mean, 3),
            "late_heartbeats": len(late),
            "holders": _holder_evidence(held),
        },
    )


# ---- background backlog ---------------------------------------------------------------------
def _backlog_severity(backlog: stats.Backlog) -> Severity:
    worst = backlog.worst
    if worst is not None and worst[1] >= stats.BACKLOG_CRITICAL_DRAIN_S:
        return "critical"
    if "sync" in backlog.pending or "async_blocking" in backlog.pending:
        return "warning"
    return "info"


def background_backlog(model: RunModel) -> Verdict | None:
    backlog = model.backlog()
    if backlog is None or backlog.total < BACKLOG_MIN_TASKS:
        return None
    parts = ", ".join(f"{n:,} {kind}" for kind, n in backlog.pending.items())
    message = f"{backlog.total:,} background tasks were pending at the last look ({parts})."
    worst = backlog.worst
    if worst is not None:
        kind, seconds = worst
        rate = backlog.rates.get(kind, 0.0)
        how = (
            f"at the observed {rate:.1f} completions/s"
            if rate > 0
            else f"at least: at most {backlog.capacity} at a time, none finished yet"
        )
        message += f" Draining the {kind} ones takes ~{duration(seconds)} ({how})."
        if kind == "sync":
            message += " They hold the thread pool the whole time."
    else:
        message += " None has finished yet, so how long they take is not known."
    sampled = model.threads()
    held = [
        share
        for group in ("pool", "other")
        for share in holders.shares(sampled, group)
        if share.holder.background
    ]
    message += _holding(held, "the threads running them")
    evidence = {
        "holders": _holder_evidence(held),
        "pending": backlog.pending,
        "completion_rate_per_s": {k: round(v, 3) for k, v in backlog.rates.items()},
        "drain_estimate_s": {
            k: (round(v, 1) if v is not None else None) for k, v in backlog.estimates.items()
        },
    }
    return Verdict(
        code="background_backlog",
        severity=_backlog_severity(backlog),
        message=message,
        evidence=evidence,
    )


# ---- generator, reachability, errors --------------------------------------------------------
def _engine_numbers(numbers: list[int], count: int) -> str:
    """ "Engine 2 of 4", "Engines 1 and 3 of 4"."""
    if len(numbers) == 1:
        return f"Engine {numbers[0]} of {count}"
    listed = ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}"
    return f"Engines {listed} of {count}"


def generator_saturated(model: RunModel) -> Verdict | None:
    """Judged per engine: one saturated engine is enough (its requests carry its delays)."""
    engines = model.generator_totals().engines
    saturated = [e for e in engines if e.saturated]
    if not saturated:
        return None
    seconds = max(e.saturated_seconds for e in saturated)
    cpu = max(e.cpu_percent_max or 0.0 for e in saturated)
    lag = max(e.loop_lag_ms_max or 0.0 for e in saturated)
    evidence: dict[str, JsonValue] = {
        "seconds": seconds,
        "cpu_percent_max": cpu,
        "loop_lag_ms_max": lag,
    }
    if len(engines) == 1:
        message = (
            f"The load generator itself was saturated for {seconds} s "
            f"(CPU up to {cpu:.0f}% of a core, its loop late by up to {lag:.0f} ms): latencies "
            "include its own delays. Use fewer users, a lower --rate, or give loadtui a core "
            "of its own."
        )
    else:
        numbers = [e.engine for e in saturated]
        one = len(numbers) == 1
        message = (
            f"{_engine_numbers(numbers, len(engines))} {'was' if one else 'were'} saturated "
            f"for up to {seconds} s (CPU up to {cpu:.0f}% of a core, loop late by up to "
            f"{lag:.0f} ms): the requests {'it' if one else 'they'} sent include "
            f"{'its' if one else 'their'} own delays. Use fewer users, a lower --rate, or more "
            "engines on more cores."
        )
        evidence["engines"] = numbers
    return Verdict(
        code="generator_saturated",
        severity="warning",
        message=message,
        evidence=evidence,
    )


def engine_lost(model: RunModel) -> Verdict | None:
    """An engine of several died or went silent: the run went on with the others."""
    engines = model.generator_totals().engines
    lost = [e for e in engines if e.lost]
    if len(engines) < 2 or not lost:
        return None  # a run of one engine fails instead, saying why
    every = len(lost) == len(engines)
    parts = [
        f"{_engine_numbers([e.engine], len(engines))}"
        + (f" (on {e.host})" if e.host else "")
        + f" was lost {e.lost_at_s or 0.0:.1f} s into the run: {e.lost_reason}"
        for e in lost
    ]
    after = (
        "No engine was left: the run ended there."
        if every
        else f"The figures each sent up to its last snapshot are kept; the run went on with "
        f"the other {plural(len(engines) - len(lost), 'engine')} (each second of the timeline "
        "says how many engines it holds)."
    )
    return Verdict(
        code="engine_lost",
        severity="critical" if every else "warning",
        message="; ".join(parts) + ". " + after,
        evidence={
            "of": len(engines),
            "lost": [
                {"engine": e.engine, "host": e.host, "at_s": e.lost_at_s, "reason": e.lost_reason}
                for e in lost
            ],
        },
    )


def server_unreachable(model: RunModel) -> Verdict | None:
    summary = model.summary()
    refused = model.unreachable_requests()
    fraction = refused / summary.requests if summary.requests else 0.0
    if fraction < UNREACHABLE_FRACTION and not (model.failure and summary.requests == 0):
        return None
    message = (
        f"The server could not be reached for {refused:,} of {summary.requests:,} requests "
        f"({fraction:.0%}): connections were refused. Did it crash or stop?"
    )
    return Verdict(
        code="server_unreachable",
        severity="critical",
        message=message,
        evidence={"unreachable_requests": refused, "fraction": round(fraction, 4)},
    )


def errors(model: RunModel) -> Verdict | None:
    summary = model.summary()
    if summary.errors == 0:
        return None
    fraction = summary.errors / max(1, summary.requests)
    by_kind = sorted(summary.errors_by_kind.items(), key=lambda kv: -kv[1])
    kinds = ", ".join(f"{n:,} {kind}" for kind, n in by_kind)
    message = (
        f"{summary.errors:,} of {summary.requests:,} requests failed ({fraction:.1%}): {kinds}."
    )
    if set(summary.errors_by_kind) == {"http_404"}:
        message += f" Does {model.target.route} exist on the target?"
    if "timeout" in summary.errors_by_kind:
        message += f" Timeouts are counted after {model.plan.timeout_s:g} s."
    return Verdict(
        code="errors",
        severity="critical" if fraction >= ERRORS_CRITICAL_FRACTION else "warning",
        message=message,
        evidence={"errors": summary.errors, "by_kind": dict(summary.errors_by_kind)},
    )


def signals_missing(model: RunModel) -> Verdict | None:
    missing = model.signals.missing
    if not missing:
        return None
    message = (
        "Not available from this target: "
        + ", ".join(missing)
        + ". Client-side numbers are complete; server-side ones are partial. "
        "instrument(app) (from loadtui import instrument) adds the sidecar and heartbeat."
    )
    return Verdict(
        code="signals_missing", severity="info", message=message, evidence={"missing": missing}
    )


# ---- the server's CPU or its GIL as the limit ------------------------------------------------
def _python_threads(second: ThreadsSecond) -> float:
    """Threads found running Python in this second, every group, on average."""
    return sum(h.threads * h.python for group in holders.GROUPS for h in getattr(second, group))


def _burning(seconds: Sequence[ThreadsSecond]) -> list[holders.Share]:
    """The application functions seen burning CPU (on a core or running Python) over
    ``seconds``, every thread group, biggest first."""
    found = [s for group in holders.GROUPS for s in holders.shares(seconds, group) if s.on_cpu]
    total = sum(s.holder.threads for s in found)
    ranked = sorted(found, key=lambda s: -s.holder.threads)
    return [holders.Share(s.holder, s.holder.threads / total) for s in ranked] if total else []


def _cpu_wanted(second: ThreadsSecond) -> float:
    """Cores' worth of CPU the app's threads wanted in this second: on a core, or ready and
    waiting for one (a machine busier than its cores shows here as more wanted)."""
    return sum(h.threads * h.on_cpu for group in holders.GROUPS for h in getattr(second, group))


def _engine_beside(model: RunModel) -> str:
    engine = max((e.generator.cpu_percent for e in model.timeline() if e.generator), default=0)
    return f"; loadtui's engine beside it up to {engine:.0f}% of a core" if engine >= 1 else ""


def _cpu_words(model: RunModel, seconds: Sequence[ThreadsSecond], cores: int) -> str:
    """What the server's processes got of those cores in those seconds, and what beside it."""
    at = {round(s.t) for s in seconds}
    got = [c for e in model.timeline() if round(e.t) in at and (c := e.server.cpu_percent)]
    if not got:
        return ""
    cpu = sum(got) / len(got)
    words = f"; its processes got {cpu:.0f}% ({cpu / cores / 100:.0%} of the cores)"
    if cpu < CPU_BOUND_SHARE * cores * 100.0:
        words += ", other processes on the machine the rest"
    return words + _engine_beside(model)


def server_cpu_bound(model: RunModel) -> Verdict | None:
    """The server's CPU (every core it may use), or its one Python thread at a time per
    process, was what limited it: more threads will not help, and the functions burning it are
    named."""
    threads = model.threads()
    cores = model.server_cores()
    workers = max(1, model.workers)
    busy = [s for s in threads if cores and _cpu_wanted(s) >= CPU_BOUND_SHARE * cores]
    held = _burning(busy)
    if cores and len(busy) >= CPU_BOUND_MIN_SECONDS and held:
        limit, seconds = "cores", len(busy)
        wanted = sum(_cpu_wanted(s) for s in busy) / seconds
        message = _cores_message(model, busy, wanted, held, cores)
    else:
        turns = [s for s in threads if _python_threads(s) / workers >= GIL_BOUND_THREADS]
        held = [s for s in _burning(turns) if s.runs_python]
        if len(turns) < CPU_BOUND_MIN_SECONDS or not held:
            return None
        limit, seconds = "gil", len(turns)
        wanted = sum(_python_threads(s) for s in turns) / seconds / workers
        message = _gil_message(model, seconds, wanted, held, cores)
    return Verdict(
        code="server_cpu_bound",
        severity="warning",
        message=message,
        evidence={
            "limit": limit,  # "cores", or "gil": one Python thread at a time per process
            "seconds": seconds,
            # cores' worth the threads wanted, or threads running Python at once per process
            "wanted": round(wanted, 2),
            "cores": cores,
            "holders": _holder_evidence(held),
        },
    )


def _cores_message(
    model: RunModel,
    busy: Sequence[ThreadsSecond],
    wanted: float,
    burning: list[holders.Share],
    cores: int,
) -> str:
    return (
        f"The server's CPU was its limit for {len(busy)} of {len(model.timeline())} s: its "
        f"threads wanted {wanted:.1f} cores' worth on average (on one, or waiting for one) "
        f"with {plural(cores, 'core')} to run on{_cpu_words(model, busy, cores)}."
        + _holding(burning, "the CPU")
        + " More threads, users or worker processes will not add answers on these cores: "
        "make that work cheaper, or give the server more cores."
    )


def _gil_message(
    model: RunModel, seconds: int, wanting: float, running: list[holders.Share], cores: int | None
) -> str:
    workers = max(1, model.workers)
    if cores and workers >= cores:
        cure = (
            f" More threads or processes will not help on {plural(cores, 'core')}: make that "
            "work cheaper, or give the server more cores."
        )
    else:
        more = f"{workers + 1}-{cores}" if cores and cores > workers + 1 else f"{workers + 1}"
        on = f", on {plural(cores, 'core')}" if cores else ""
        cure = (
            f" More threads will not help. More worker processes will (uvicorn --workers {more}"
            f"{on}), or cheaper work, or a ProcessPoolExecutor for it."
        )
    return (
        f"The server's Python was its limit for {seconds} of {len(model.timeline())} s: "
        f"{wanting:.1f} threads on average were running Python at once in "
        + ("its process" if workers == 1 else "each worker process")
        + ", which runs one at a time (the GIL)."
        + _holding(running, "the GIL in turn")
        + cure
    )


RULES: tuple[Callable[[RunModel], Verdict | None], ...] = (
    event_loop_blocked,
    server_unresponsive,
    server_stalled,  # after the two that name a cause, before the pool's
    gc_pauses,
    loop_starved,
    event_loop_saturated,
    stream_gaps,
    threadpool_saturated,
    server_cpu_bound,
    background_backlog,
    generator_saturated,
    engine_lost,
    server_unreachable,
    errors,
    signals_missing,
    probe_failed,
)
# Each rule is named after the code it gives (tests/test_thresholds.py checks): --fail-on's codes.
CODES = frozenset(rule.__name__ for rule in RULES)


def compute(model: RunModel) -> list[Verdict]:
    found = [verdict for rule in RULES if (verdict := rule(model)) is not None]
    return sorted(found, key=lambda v: SEVERITY_ORDER[v.severity])
