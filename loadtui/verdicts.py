"""Plain-English diagnoses computed from the run model, each with its evidence."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

from loadtui.model import RunModel, TimelineEntry
from loadtui.server_samples import SIGNAL_HEARTBEAT, ServerSample, Stall

Severity = Literal["critical", "warning", "info"]
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}

MIN_SATURATED_SECONDS = 2
BACKLOG_MIN_TASKS = 50
BACKLOG_CRITICAL_DRAIN_S = 300.0
ERRORS_CRITICAL_FRACTION = 0.05
UNREACHABLE_FRACTION = 0.05
RATE_WINDOW_S = 10.0


@dataclass(frozen=True)
class Verdict:
    code: str
    severity: Severity
    message: str
    evidence: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def duration_words(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"


# ---- event loop ----------------------------------------------------------------------------
GC_CULPRIT = "gc.collect"


def run_stalls(model: RunModel) -> list[Stall]:
    """Stalls that happened during the run (a reused server may report older ones)."""
    start = (model.started_epoch or 0.0) - 0.5
    return [s for s in model.stalls() if s.started_epoch + s.duration_s >= start]


def _within_run(model: RunModel, stall: Stall) -> float:
    """The part of a stall that fell inside the run (the probe goes on looking after it)."""
    start = model.started_epoch or stall.started_epoch
    end = start + model.elapsed_s()
    return max(
        0.0, min(end, stall.started_epoch + stall.duration_s) - max(start, stall.started_epoch)
    )


def _stall_verdict(model: RunModel, stalls: list[Stall], code: str, advice: str) -> Verdict:
    by_culprit: dict[str, list[float]] = defaultdict(list)
    for stall in stalls:
        by_culprit[stall.culprit].append(_within_run(model, stall))
    durations = [d for group in by_culprit.values() for d in group]
    total, longest = sum(durations), max(durations)
    share = min(1.0, total / max(model.elapsed_s(), 1e-9))
    locations = {stall.culprit: stall.location for stall in stalls}
    ranked = sorted(by_culprit.items(), key=lambda kv: -sum(kv[1]))
    culprits = [
        {
            "culprit": name,
            "location": locations[name],
            "stalls": len(group),
            "total_s": round(sum(group), 3),
            "longest_s": round(max(group), 3),
        }
        for name, group in ranked
    ]
    named = "; ".join(
        f"{c['culprit']} ({c['stalls']} stalls, {c['total_s']:.1f} s)" for c in culprits[:3]
    )
    severity: Severity = (
        "critical"
        if share >= 0.1 or longest >= 1.0
        else "warning"
        if share >= 0.01 or longest >= 0.25
        else "info"
    )
    times = "once" if len(stalls) == 1 else f"{len(stalls)} times"
    message = (
        f"The event loop was blocked {times}, {total:.1f} s in total "
        f"({share:.0%} of the run), longest {longest:.1f} s. Culprit: {named}. " + advice
    )
    evidence = {
        "stalls": len(stalls),
        "total_s": round(total, 3),
        "longest_s": round(longest, 3),
        "culprits": culprits,
    }
    return Verdict(code, severity, message, evidence)


def event_loop_blocked(model: RunModel) -> Verdict | None:
    stalls = [s for s in run_stalls(model) if not s.culprit.startswith(GC_CULPRIT)]
    if not stalls:
        return _blocked_by_heartbeat(model)
    advice = (
        "While it is blocked no request makes progress; run blocking code in a thread "
        "(run_in_threadpool) or make it truly async."
    )
    return _stall_verdict(model, stalls, "event_loop_blocked", advice)


def gc_pauses(model: RunModel) -> Verdict | None:
    """Collector passes long enough to count as stalls: a different cure from blocking code."""
    stalls = [s for s in run_stalls(model) if s.culprit.startswith(GC_CULPRIT)]
    if not stalls:
        return None
    advice = (
        "The garbage collector held the loop: the server keeps many live objects (thousands "
        "of pending tasks, say). Fewer live objects, gc.freeze() after startup or a higher "
        "gc threshold shorten the pauses."
    )
    verdict = _stall_verdict(model, stalls, "gc_pauses", advice)
    return replace(verdict, severity="warning") if verdict.severity == "critical" else verdict


def _blocked_by_heartbeat(model: RunModel) -> Verdict | None:
    """Without a sidecar: heartbeats that stop answering are the only sign."""
    if SIGNAL_HEARTBEAT not in model.signals_available:
        return None
    failures = sum(entry.server.heartbeat_failures for entry in model.timeline())
    if failures < 4:
        return None
    seconds = failures * 0.25
    message = (
        f"The app's /heartbeat went unanswered about {seconds:.1f} s in total: its event loop "
        "was blocked. Without the metrics sidecar the culprit cannot be named; "
        "instrument(app) adds it."
    )
    return Verdict("event_loop_blocked", "warning", message, {"heartbeat_failures": failures})


# ---- thread pool -----------------------------------------------------------------------------
def _saturated(entry: TimelineEntry) -> bool:
    server = entry.server
    return (
        server.threadpool_capacity is not None
        and server.threadpool_busy is not None
        and server.threadpool_busy >= server.threadpool_capacity
        and (server.threadpool_waiting or 0) > 0
    )


def threadpool_saturated(model: RunModel) -> Verdict | None:
    timeline = model.timeline()
    saturated = [entry for entry in timeline if _saturated(entry)]
    if len(saturated) < MIN_SATURATED_SECONDS:
        return None
    capacity = saturated[-1].server.threadpool_capacity or 0
    waiting_max = max(entry.server.threadpool_waiting or 0 for entry in saturated)
    summary = model.summary()
    mean_s = (summary.latency.mean or 0.0) / 1000.0
    in_system = summary.rps * mean_s  # Little's law: L = lambda x W
    slow = (summary.latency.p50 or 0.0) >= 1000.0
    effect = (
        f"Requests queue for a thread: p50 latency {summary.latency.p50 / 1000:.1f} s."
        if slow and summary.latency.p50 is not None
        else "Answers stay fast (the handlers do not need the pool), but work queues behind it."
    )
    message = (
        f"The thread pool was full for {len(saturated)} of {len(timeline)} s: "
        f"{capacity}/{capacity} threads busy, up to {waiting_max} tasks waiting. "
        f"By Little's law {summary.rps:.1f} req/s x {mean_s:.2f} s mean latency means "
        f"~{in_system:.0f} requests inside the server at once, while all {capacity} threads "
        f"are taken. {effect}"
    )
    evidence = {
        "seconds_saturated": len(saturated),
        "capacity": capacity,
        "waiting_max": waiting_max,
        "littles_law_in_flight": round(in_system, 1),
        "server_in_flight_max": max((e.server.in_flight or 0) for e in timeline),
    }
    return Verdict("threadpool_saturated", "critical" if slow else "warning", message, evidence)


# ---- background backlog ---------------------------------------------------------------------
def _last_with_backlog(samples: list[ServerSample]) -> ServerSample | None:
    return next((s for s in reversed(samples) if s.background_pending is not None), None)


def completion_rates(samples: list[ServerSample]) -> dict[str, float]:
    """Background tasks completed per second, by kind, over the last ~10 s of samples."""
    with_counts = [s for s in samples if s.background_completed is not None]
    if len(with_counts) < 2:
        return {}
    last = with_counts[-1]
    first = next(s for s in with_counts if s.mono >= last.mono - RATE_WINDOW_S)
    if first is last:
        first = with_counts[-2]
    span = max(1e-9, last.mono - first.mono)
    return {
        kind: (last.background_completed[kind] - first.background_completed.get(kind, 0)) / span  # type: ignore[index,union-attr]
        for kind in last.background_completed  # type: ignore[union-attr]
    }


def drain_estimate_s(
    kind: str, pending: int, rate: float, capacity: int | None, elapsed: float
) -> float | None:
    """Seconds until ``pending`` tasks are done at the observed completion rate.

    With no completion seen yet: sync tasks run at most ``capacity`` at a time and the first
    ones have run about the whole run so far, which gives a lower bound; for async tasks,
    which all run at once, nothing can be said yet (None).
    """
    if rate > 0:
        return pending / rate
    if kind == "sync":
        return pending / max(1, capacity or 1) * elapsed
    return None


def background_backlog(model: RunModel) -> Verdict | None:
    samples = model.samples()
    last = _last_with_backlog(samples)
    if last is None or last.background_pending is None:
        return None
    pending = {kind: n for kind, n in last.background_pending.items() if n > 0}
    total = sum(pending.values())
    if total < BACKLOG_MIN_TASKS:
        return None
    rates = completion_rates(samples)
    elapsed = model.elapsed_s()
    estimates = {
        kind: drain_estimate_s(kind, n, rates.get(kind, 0.0), last.threadpool_capacity, elapsed)
        for kind, n in pending.items()
    }
    parts = ", ".join(f"{n:,} {kind}" for kind, n in pending.items())
    message = f"{total:,} background tasks were pending at the last look ({parts})."
    known = {kind: est for kind, est in estimates.items() if est is not None}
    worst = max(known.values()) if known else 0.0
    if known:
        worst_kind = max(known, key=lambda k: known[k])
        rate = rates.get(worst_kind, 0.0)
        how = (
            f"at the observed {rate:.1f} completions/s"
            if rate > 0
            else f"at least: at most {last.threadpool_capacity} at a time, none finished yet"
        )
        message += f" Draining the {worst_kind} ones takes ~{duration_words(worst)} ({how})."
        if worst_kind == "sync":
            message += " They hold the thread pool the whole time."
    else:
        message += " None has finished yet, so how long they take is not known."
    severity: Severity = (
        "critical"
        if worst >= BACKLOG_CRITICAL_DRAIN_S
        else "warning"
        if "sync" in pending or "async_blocking" in pending
        else "info"
    )
    evidence = {
        "pending": pending,
        "completion_rate_per_s": {k: round(v, 3) for k, v in rates.items()},
        "drain_estimate_s": {
            k: (round(v, 1) if v is not None else None) for k, v in estimates.items()
        },
    }
    return Verdict("background_backlog", severity, message, evidence)


# ---- generator, reachability, errors --------------------------------------------------------
def generator_saturated(model: RunModel) -> Verdict | None:
    if not model.generator_saturated():
        return None
    seconds = model.generator_saturated_seconds()
    intervals = model.intervals()
    cpu = max(i.engine_cpu_percent for i in intervals)
    lag = max(i.engine_lag_ms for i in intervals)
    message = (
        f"The load generator itself was saturated for {seconds} s (CPU up to {cpu:.0f}% of a "
        f"core, its loop late by up to {lag:.0f} ms): latencies include its own delays. "
        "Use fewer users, a lower --rate, or give loadtui a core of its own."
    )
    evidence = {"seconds": seconds, "cpu_percent_max": cpu, "loop_lag_ms_max": lag}
    return Verdict("generator_saturated", "warning", message, evidence)


def server_unreachable(model: RunModel) -> Verdict | None:
    fraction = model.unreachable_fraction()
    summary = model.summary()
    if fraction < UNREACHABLE_FRACTION and not (model.failure and summary.requests == 0):
        return None
    refused = sum(n for k, n in summary.errors_by_kind.items() if k in ("refused", "connect_error"))
    message = (
        f"The server could not be reached for {refused:,} of {summary.requests:,} requests "
        f"({fraction:.0%}): connections were refused. Did it crash or stop?"
    )
    evidence = {"unreachable_requests": refused, "fraction": round(fraction, 4)}
    return Verdict("server_unreachable", "critical", message, evidence)


def errors(model: RunModel) -> Verdict | None:
    summary = model.summary()
    if summary.errors == 0:
        return None
    fraction = summary.errors / max(1, summary.requests)
    kinds = ", ".join(
        f"{n:,} {kind}" for kind, n in sorted(summary.errors_by_kind.items(), key=lambda kv: -kv[1])
    )
    message = (
        f"{summary.errors:,} of {summary.requests:,} requests failed ({fraction:.1%}): {kinds}."
    )
    if set(summary.errors_by_kind) == {"http_404"}:
        message += f" Does {model.target.route} exist on the target?"
    if "timeout" in summary.errors_by_kind:
        message += f" Timeouts are counted after {model.plan.timeout_s:g} s."
    severity: Severity = "critical" if fraction >= ERRORS_CRITICAL_FRACTION else "warning"
    evidence = {"errors": summary.errors, "by_kind": summary.errors_by_kind}
    return Verdict("errors", severity, message, evidence)


def signals_missing(model: RunModel) -> Verdict | None:
    if not model.signals_missing:
        return None
    message = (
        "Not available from this target: "
        + ", ".join(model.signals_missing)
        + ". Client-side numbers are complete; server-side ones are partial. "
        "instrument(app) from loadtui's server package adds the sidecar and heartbeat."
    )
    return Verdict("signals_missing", "info", message, {"missing": model.signals_missing})


RULES = (
    event_loop_blocked,
    gc_pauses,
    threadpool_saturated,
    background_backlog,
    generator_saturated,
    server_unreachable,
    errors,
    signals_missing,
)


def compute(model: RunModel) -> list[Verdict]:
    found = [verdict for rule in RULES if (verdict := rule(model)) is not None]
    return sorted(found, key=lambda v: SEVERITY_ORDER[v.severity])
