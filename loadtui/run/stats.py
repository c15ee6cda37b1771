"""Statistics computed from samples: the one place they live.

Pure functions (a second of server samples folded, completion rates, drain estimates, Little's
law, stall windows within a run, saturation) and running totals that the run model keeps up to
date as seconds and samples arrive, so that no reader refolds a long run. Verdicts judge these
figures, renderers format them, the run file serializes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from statistics import fmean
from typing import Any, TypeVar

from hdrh.histogram import HdrHistogram

from loadtui.engine import hdr
from loadtui.engine.messages import IntervalSnapshot
from loadtui.probing.samples import ServerSample, Stall
from loadtui.run.rundoc import (
    EngineTotals,
    GeneratorSecond,
    GeneratorTotals,
    LatencyMs,
    ServerSecond,
    ServerTotals,
    StallWindow,
    StreamStats,
    Summary,
    TimelineEntry,
    WorkerTotals,
)

SATURATED_CPU_PERCENT = 90.0  # the engine's CPU, % of its core
SATURATED_LAG_MS = 50.0  # the engine's loop lag
SATURATED_MIN_SECONDS = 2  # a run's generator is saturated once this many seconds were
UNREACHABLE_KINDS = frozenset({"refused", "connect_error"})
RATE_WINDOW_S = 10.0  # background completions are counted over this long
BACKLOG_CRITICAL_DRAIN_S = 300.0  # a backlog that takes longer than this to drain is critical


# ---- one look at several workers -------------------------------------------------------------
N = TypeVar("N", int, float)


def _sum(values: Iterable[N | None]) -> N | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _most(values: Iterable[N | None]) -> N | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _by_kind(values: Iterable[dict[str, int] | None]) -> dict[str, int] | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    total: dict[str, int] = {}
    for counts in present:
        for kind, n in counts.items():
            total[kind] = total.get(kind, 0) + n
    return total


def sample_pool_saturated(sample: ServerSample) -> bool:
    """Every thread of this worker busy and tasks waiting for one."""
    capacity, busy = sample.threadpool_capacity, sample.threadpool_busy
    return (
        capacity is not None
        and busy is not None
        and busy >= capacity
        and (sample.threadpool_waiting or 0) > 0
    )


def combine(samples: Sequence[ServerSample]) -> ServerSample:
    """One look at every worker as one sample of the server: pools, backlogs, requests, CPU
    and memory add up; the loop is the worst worker's; the heartbeat is whoever answered it."""
    if len(samples) == 1:
        return samples[0]
    stalled = [s for s in samples if s.stalled_now]
    worst = max(stalled, key=lambda s: s.tick_age_s or 0.0) if stalled else None
    beat = next((s for s in samples if s.heartbeat_ok is not None), None)
    sidecars = [s.sidecar_ok for s in samples if s.sidecar_ok is not None]
    return ServerSample(
        mono=samples[0].mono,
        sidecar_ok=any(sidecars) if sidecars else None,
        threadpool_capacity=_sum(s.threadpool_capacity for s in samples),
        threadpool_busy=_sum(s.threadpool_busy for s in samples),
        threadpool_waiting=_sum(s.threadpool_waiting for s in samples),
        background_pending=_by_kind(s.background_pending for s in samples),
        background_running=_by_kind(s.background_running for s in samples),
        background_completed=_by_kind(s.background_completed for s in samples),
        requests_in_flight=_sum(s.requests_in_flight for s in samples),
        tick_age_s=_most(s.tick_age_s for s in samples),
        loop_lag_s=_most(s.loop_lag_s for s in samples),
        heartbeat_ms=beat.heartbeat_ms if beat else None,
        heartbeat_ok=beat.heartbeat_ok if beat else None,
        cpu_percent=_sum(s.cpu_percent for s in samples),
        rss_bytes=_sum(s.rss_bytes for s in samples),
        cpu_cores=_most(s.cpu_cores for s in samples),  # the workers share the machine's
        stalled_now=worst is not None,
        stall=worst.stall if worst else None,
        stall_pid=worst.pid if worst else None,
        pool_saturated_pids=tuple(
            s.pid for s in samples if s.pid is not None and sample_pool_saturated(s)
        ),
    )


def loop_lag_s(sample: ServerSample) -> float | None:
    """The loop's lag as a person means it: during a stall, how long it has been stalled."""
    if sample.stalled_now and sample.tick_age_s is not None:
        return max(sample.tick_age_s, sample.loop_lag_s or 0.0)
    return sample.loop_lag_s


# ---- one second of server samples ------------------------------------------------------------
def _present(samples: Sequence[ServerSample], name: str) -> list[float]:
    return [v for s in samples if (v := getattr(s, name)) is not None]


def _peak(samples: Sequence[ServerSample], name: str) -> float | None:
    found = _present(samples, name)
    return max(found) if found else None


def fold(samples: Sequence[ServerSample]) -> ServerSecond:
    """Samples of one second as one reading: peaks, the mean CPU, the last backlog."""
    if not samples:
        return ServerSecond()
    last = samples[-1]
    cpu = _present(samples, "cpu_percent")
    return ServerSecond(
        samples=len(samples),
        cpu_percent=round(fmean(cpu), 2) if cpu else None,
        rss_bytes=_peak(samples, "rss_bytes"),
        threadpool_capacity=last.threadpool_capacity,
        threadpool_busy=_peak(samples, "threadpool_busy"),
        threadpool_waiting=_peak(samples, "threadpool_waiting"),
        background_pending=last.background_pending,
        background_running=last.background_running,
        requests_in_flight=_peak(samples, "requests_in_flight"),
        tick_age_max_s=_peak(samples, "tick_age_s"),
        loop_lag_max_s=_most(loop_lag_s(s) for s in samples),
        heartbeat_ms_max=_peak(samples, "heartbeat_ms"),
        heartbeat_failures=sum(1 for s in samples if s.heartbeat_ok is False),
        stalled=any(s.stalled_now for s in samples),
        pool_saturated=any(sample_pool_saturated(s) or s.pool_saturated_pids for s in samples),
    )


def generator_saturated(second: GeneratorSecond) -> bool:
    return second.cpu_percent >= SATURATED_CPU_PERCENT or second.loop_lag_ms >= SATURATED_LAG_MS


# ---- one second seen by several observers ----------------------------------------------------
SUMMED = ("requests", "errors", "rps", "users", "in_flight", "unsent", "engines", "events")


def highest(values: Sequence[Any]) -> Any:
    """The highest reading of one gauge among several observers; dicts key by key."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    if all(isinstance(v, dict) for v in present):
        keys = dict.fromkeys(key for value in present for key in value)
        return {key: highest([value.get(key) for value in present]) for key in keys}
    if all(isinstance(v, int | float) for v in present):
        return max(present)
    return present[0]


def add_seconds(entries: Sequence[TimelineEntry]) -> TimelineEntry:
    """One second as several engines (or machines) saw it, as one: counts add, the histograms
    add (the percentiles are the sum's), gauges (the generator's, the server's) keep the
    highest reading."""
    if len(entries) == 1:
        return entries[0]
    merged = highest([e.model_dump() for e in entries])
    for key in SUMMED:
        merged[key] = round(sum(getattr(e, key) for e in entries), 3)
    kinds: dict[str, int] = {}
    for entry in entries:
        for kind, n in entry.errors_by_kind.items():
            kinds[kind] = kinds.get(kind, 0) + n
    merged["errors_by_kind"] = kinds
    intended = [e.intended for e in entries if e.intended is not None]
    merged["intended"] = sum(intended) if intended else None
    encoded = [e.hdr for e in entries if e.hdr is not None]
    if encoded:
        histogram = hdr.new_histogram()
        for data in encoded:
            hdr.add_encoded(histogram, data)
        latency = hdr.summarize(histogram)
        merged["hdr"] = hdr.encode(histogram)
        merged.update(
            p50_ms=latency.p50, p90_ms=latency.p90, p99_ms=latency.p99, max_ms=latency.max
        )
        hdr.release(histogram)
    return TimelineEntry.model_validate(merged)


# ---- background tasks ------------------------------------------------------------------------
def completion_rates(samples: Sequence[ServerSample]) -> dict[str, float]:
    """Background tasks completed per second, by kind, over the last ``RATE_WINDOW_S``."""
    with_counts = [s for s in samples if s.background_completed is not None]
    if len(with_counts) < 2:
        return {}
    last = with_counts[-1]
    first = next(s for s in with_counts if s.mono >= last.mono - RATE_WINDOW_S)
    if first is last:
        first = with_counts[-2]
    span = max(1e-9, last.mono - first.mono)
    done, before = last.background_completed or {}, first.background_completed or {}
    return {kind: max(0, n - before.get(kind, 0)) / span for kind, n in done.items()}


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


@dataclass(frozen=True)
class Backlog:
    """Background tasks pending at the last look, and how long they take to drain."""

    pending: dict[str, int]  # kinds with tasks pending
    rates: dict[str, float]  # completions per second, by kind
    estimates: dict[str, float | None]  # drain seconds by kind; None: unknown yet
    capacity: int | None  # the thread pool's, which bounds sync tasks

    @property
    def total(self) -> int:
        return sum(self.pending.values())

    @property
    def worst(self) -> tuple[str, float] | None:
        """The kind that takes longest to drain, and how long; None if nothing is known."""
        known = {k: v for k, v in self.estimates.items() if v is not None}
        if not known:
            return None
        kind = max(known, key=lambda k: known[k])
        return kind, known[kind]


def backlog(samples: Sequence[ServerSample], elapsed: float) -> Backlog | None:
    """The backlog at the last sample that reported one (None: no background figures)."""
    last = next((s for s in reversed(samples) if s.background_pending is not None), None)
    if last is None or last.background_pending is None:
        return None
    pending = {kind: n for kind, n in last.background_pending.items() if n > 0}
    rates = completion_rates(samples)
    capacity = last.threadpool_capacity
    estimates = {
        kind: drain_estimate_s(kind, n, rates.get(kind, 0.0), capacity, elapsed)
        for kind, n in pending.items()
    }
    return Backlog(pending, rates, estimates, capacity)


# ---- queues and stalls -----------------------------------------------------------------------
def per_second(count: int, seconds: float) -> float:
    """``count`` over ``seconds`` (req/s), to 3 places; 0 over no time."""
    return round(count / seconds, 3) if seconds > 0 else 0.0


def summary(
    requests: int,
    errors_by_kind: dict[str, int],
    duration_s: float,
    latency: HdrHistogram,
    uncorrected: HdrHistogram | None = None,
    send_lag: HdrHistogram | None = None,
    unsent: int | None = None,
    rps_to_last_response: float | None = None,
    in_flight: tuple[int, float | None] | None = None,
    first_byte: HdrHistogram | None = None,
    first_byte_uncorrected: HdrHistogram | None = None,
    stream: StreamStats | None = None,
    setup_pending: int | None = None,
) -> Summary:
    """A run's summary from its counts, its length and its histograms (the corrected latency;
    in open loop the uncorrected one and the send lag too; the first byte's when responses
    began, and the streams' figures when some were seen); ``in_flight``: the requests still
    waiting for an answer at the end, and how long the oldest had waited (None: not known)."""

    def latency_ms(histogram: HdrHistogram | None) -> LatencyMs | None:
        return None if histogram is None else LatencyMs.of(hdr.summarize(histogram))

    return Summary(
        requests=requests,
        errors=sum(errors_by_kind.values()),
        errors_by_kind=dict(errors_by_kind),
        duration_s=round(duration_s, 3),
        rps=per_second(requests, duration_s),
        rps_to_last_response=rps_to_last_response,
        latency_ms=LatencyMs.of(hdr.summarize(latency)),
        latency_uncorrected_ms=latency_ms(uncorrected),
        send_lag_ms=latency_ms(send_lag),
        unsent=unsent,
        in_flight_at_end=in_flight[0] if in_flight is not None else None,
        oldest_in_flight_s=in_flight[1] if in_flight is not None else None,
        first_byte_ms=latency_ms(first_byte),
        first_byte_uncorrected_ms=latency_ms(first_byte_uncorrected),
        stream=stream,
        users_not_through_setup=setup_pending,
    )


def littles_law(rps: float, mean_ms: float | None) -> float:
    """Requests inside the server at once, on average: L = lambda x W."""
    return rps * (mean_ms or 0.0) / 1000.0


def _iso(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def stall_windows(stalls: Iterable[Stall], start: float, end: float) -> list[StallWindow]:
    """The part of each stall that fell within [start, end] (epoch seconds), in order; stalls
    wholly outside (a reused server's older ones, say) are left out."""
    windows = []
    for stall in sorted(stalls, key=lambda s: s.started_epoch):
        began = max(start, stall.started_epoch)
        ended = min(end, stall.started_epoch + stall.duration_s)
        if ended > began:
            windows.append(
                StallWindow(
                    started_at=_iso(began),
                    duration_s=round(ended - began, 4),
                    culprit=stall.culprit,
                    location=stall.location,
                    leaf=stall.leaf,
                    ongoing=stall.ongoing,
                    pid=stall.pid,
                    runqueue_share=stall.runqueue_share,
                )
            )
    return windows


# ---- running totals --------------------------------------------------------------------------
@dataclass
class ServerRunning:
    """Peaks and means over every look at the server during the load, kept as looks arrive,
    and how long it went unanswered: the time from a look that found it so to the next look."""

    samples: int = 0
    cpu_sum: float = 0.0
    cpu_count: int = 0
    peaks: dict[str, float] = field(default_factory=dict)
    pending_end: dict[str, int] | None = None
    heartbeat_unanswered_s: float = 0.0  # its /heartbeat timed out or failed
    unresponsive_s: float = 0.0  # ... and so did every sidecar: the whole process was stopped
    _previous: ServerSample | None = None

    PEAKS = (
        "threadpool_busy",
        "threadpool_waiting",
        "requests_in_flight",
        "rss_bytes",
        "threadpool_capacity",
        "cpu_cores",
    )

    def add(self, sample: ServerSample) -> None:
        self.samples += 1
        if sample.cpu_percent is not None:
            self.cpu_sum += sample.cpu_percent
            self.cpu_count += 1
        for name in self.PEAKS:
            self._peak(name, getattr(sample, name))
        self._peak("loop_lag_s", loop_lag_s(sample))
        if sample.background_pending is not None:
            self.pending_end = sample.background_pending
        previous, self._previous = self._previous, sample
        if previous is not None and previous.heartbeat_ok is False:
            elapsed = max(0.0, sample.mono - previous.mono)
            self.heartbeat_unanswered_s += elapsed
            if previous.sidecar_ok is False:
                self.unresponsive_s += elapsed

    def _peak(self, name: str, value: float | None) -> None:
        if value is not None and value > self.peaks.get(name, float("-inf")):
            self.peaks[name] = value

    def peak(self, name: str) -> float | None:
        return self.peaks.get(name)

    def totals(self) -> ServerTotals:
        pending = self.pending_end
        return ServerTotals(
            background_tasks_pending_end=sum(pending.values()) if pending is not None else None,
            background_tasks_pending_end_by_kind=pending,
            threadpool_capacity=self.peak("threadpool_capacity"),
            threadpool_busy_max=self.peak("threadpool_busy"),
            threadpool_waiting_max=self.peak("threadpool_waiting"),
            requests_in_flight_max=self.peak("requests_in_flight"),
            cpu_percent_mean=round(self.cpu_sum / self.cpu_count, 2) if self.cpu_count else None,
            cpu_cores=self.peak("cpu_cores"),
            rss_bytes_max=self.peak("rss_bytes"),
            loop_lag_s_max=self.peak("loop_lag_s"),
            heartbeat_unanswered_s=round(self.heartbeat_unanswered_s, 3),
            unresponsive_s=round(self.unresponsive_s, 3),
        )


@dataclass
class WorkerRunning:
    """One worker process's figures over the load, kept as looks arrive."""

    pid: int
    server: ServerRunning = field(default_factory=ServerRunning)
    sidecar: bool = False  # its sidecar answered at least once
    pool_saturated_looks: int = 0

    def add(self, sample: ServerSample) -> None:
        self.server.add(sample)
        self.sidecar = self.sidecar or bool(sample.sidecar_ok)
        if sample_pool_saturated(sample):
            self.pool_saturated_looks += 1

    def totals(self, stalls: Sequence[StallWindow]) -> WorkerTotals:
        mine = [s for s in stalls if s.pid == self.pid]
        server = self.server.totals()
        return WorkerTotals(
            pid=self.pid,
            sidecar=self.sidecar,
            stalls=len(mine),
            stalled_s=round(sum(s.duration_s for s in mine), 3),
            longest_stall_s=max((s.duration_s for s in mine), default=None),
            loop_lag_s_max=server.loop_lag_s_max,
            threadpool_capacity=server.threadpool_capacity,
            threadpool_busy_max=server.threadpool_busy_max,
            threadpool_waiting_max=server.threadpool_waiting_max,
            threadpool_saturated_looks=self.pool_saturated_looks,
            background_tasks_pending_end=server.background_tasks_pending_end,
            cpu_percent_mean=server.cpu_percent_mean,
            rss_bytes_max=server.rss_bytes_max,
        )


@dataclass
class Silence:
    """Seconds in a row in which no request got an answer while requests waited for one, and
    what the server showed meanwhile."""

    start_s: float  # seconds from the start of the run
    seconds: float = 0.0
    waiting_max: int = 0  # the most requests waiting at once (the engines' in flight)
    oldest_s: float | None = None  # how long the oldest had waited, at its last second
    ongoing: bool = False  # it lasted to the newest second (at the end: the run ended in it)
    # the server meanwhile: seconds with samples, and of them those with a full pool (tasks
    # waiting for a thread) and those with the event loop stalled
    server_seconds: int = 0
    pool_saturated_seconds: int = 0
    loop_stalled_seconds: int = 0
    pool_capacity: int | None = None
    pool_waiting_max: int = 0
    cpu_sum: float = 0.0
    cpu_count: int = 0
    server_in_flight_max: int | None = None  # the app's own in-flight gauge, highest second
    sync_pending: int | None = None  # sync background tasks pending, the last reading

    @property
    def cpu_percent_mean(self) -> float | None:
        return self.cpu_sum / self.cpu_count if self.cpu_count else None

    def add(self, entry: TimelineEntry) -> None:
        self.seconds += entry.length_s
        self.waiting_max = max(self.waiting_max, entry.in_flight)
        self.oldest_s = entry.oldest_in_flight_s
        server = entry.server
        if not server.samples:
            return
        self.server_seconds += 1
        self.loop_stalled_seconds += server.stalled
        if server.pool_saturated:
            self.pool_saturated_seconds += 1
            self.pool_capacity = server.threadpool_capacity
            self.pool_waiting_max = max(self.pool_waiting_max, server.threadpool_waiting or 0)
        if server.cpu_percent is not None:
            self.cpu_sum += server.cpu_percent
            self.cpu_count += 1
        if server.requests_in_flight is not None:
            self.server_in_flight_max = max(
                self.server_in_flight_max or 0, server.requests_in_flight
            )
        if server.background_pending is not None:
            self.sync_pending = server.background_pending.get("sync", 0)


SILENCE_MIN_S = 3.0  # a silence shorter than this is not kept
MAX_SILENCES = 100  # kept in order; later ones only counted (a long run of a slow route)


@dataclass
class SilenceRunning:
    """The run's silences (seconds with no answer while requests waited), kept as seconds
    close, and how fast the server answers when it does: the lowest median latency of a second
    whose every request got an answer. With several engines a second is judged as it closes,
    with the engines' figures it holds by then (a late engine's part added after it is not)."""

    ended: list[Silence] = field(default_factory=list)  # at least SILENCE_MIN_S long
    more: int = 0  # ... beyond MAX_SILENCES
    current: Silence | None = None
    fastest_p50_ms: float | None = None

    def add(self, entry: TimelineEntry) -> None:
        answered = entry.answered
        if answered == 0 and entry.in_flight > 0:
            if self.current is None:
                self.current = Silence(start_s=max(0.0, entry.t - entry.length_s))
            self.current.add(entry)
            return
        self._end()
        if answered and answered == entry.requests and entry.p50_ms is not None:
            fastest = self.fastest_p50_ms
            self.fastest_p50_ms = entry.p50_ms if fastest is None else min(fastest, entry.p50_ms)

    def _end(self) -> None:
        silence, self.current = self.current, None
        if silence is None or silence.seconds < SILENCE_MIN_S:
            return
        if len(self.ended) < MAX_SILENCES:
            self.ended.append(silence)
        else:
            self.more += 1

    def silences(self) -> list[Silence]:
        """Every silence of at least SILENCE_MIN_S so far, the one still going on last."""
        found = list(self.ended)
        if self.current is not None and self.current.seconds >= SILENCE_MIN_S:
            found.append(replace(self.current, ongoing=True))
        return found


@dataclass
class SecondsRunning:
    """Totals over the timeline's seconds, kept as each second closes."""

    seconds: int = 0
    pool_saturated_seconds: int = 0
    pool_waiting_max_saturated: int = 0  # most tasks waiting in a saturated second
    pool_capacity_saturated: int | None = None  # the pool's size in the last saturated second
    in_flight_max: int | None = None  # the server's requests in flight, highest second
    # in the saturated seconds: the server's in-flight gauge and the engines' requests waiting
    # for an answer, summed (for their means), and how many seconds had the gauge
    saturated_server_in_flight: int = 0
    saturated_gauge_seconds: int = 0
    saturated_waiting: int = 0
    silence: SilenceRunning = field(default_factory=SilenceRunning)

    def add(self, entry: TimelineEntry) -> None:
        self.seconds += 1
        server = entry.server
        if server.pool_saturated:
            self.pool_saturated_seconds += 1
            self.pool_waiting_max_saturated = max(
                self.pool_waiting_max_saturated, server.threadpool_waiting or 0
            )
            self.pool_capacity_saturated = server.threadpool_capacity
            self.saturated_waiting += entry.in_flight
            if server.requests_in_flight is not None:
                self.saturated_server_in_flight += server.requests_in_flight
                self.saturated_gauge_seconds += 1
        if server.requests_in_flight is not None:
            self.in_flight_max = max(self.in_flight_max or 0, server.requests_in_flight)
        self.silence.add(entry)

    def in_flight_seen(self) -> tuple[float | None, float | None]:
        """Over the saturated seconds, the mean of (the server's own in-flight gauge, the
        requests the engines had waiting for an answer); None where not known."""
        seconds = self.pool_saturated_seconds
        gauge = self.saturated_gauge_seconds
        return (
            self.saturated_server_in_flight / gauge if gauge else None,
            self.saturated_waiting / seconds if seconds else None,
        )


@dataclass
class EngineRunning:
    """One engine watching itself over the run, kept as its snapshots arrive."""

    seconds: int = 0
    requests: int = 0
    cpu_sum: float = 0.0
    cpu_max: float | None = None
    lag_max: float | None = None
    rss_max: int | None = None
    saturated_seconds: int = 0

    def add(self, snap: IntervalSnapshot) -> None:
        self.seconds += 1
        self.requests += snap.requests
        self.cpu_sum += snap.cpu_percent
        self.cpu_max = max(self.cpu_max or 0.0, snap.cpu_percent)
        self.lag_max = max(self.lag_max or 0.0, snap.loop_lag_ms)
        self.rss_max = max(self.rss_max or 0, snap.rss_bytes)
        # the first second carries start-up (imports, opening connections): not counted
        busy = GeneratorSecond(cpu_percent=snap.cpu_percent, loop_lag_ms=snap.loop_lag_ms)
        if snap.index > 1 and generator_saturated(busy):
            self.saturated_seconds += 1

    @property
    def saturated(self) -> bool:
        return self.saturated_seconds >= SATURATED_MIN_SECONDS

    @property
    def cpu_mean(self) -> float | None:
        return round(self.cpu_sum / self.seconds, 2) if self.seconds else None


def generator_totals(engines: Sequence[EngineTotals]) -> GeneratorTotals:
    """The generator over the run: one engine's figures, or with several the busiest engine's
    (each is judged on its own: one saturated engine is enough)."""
    means = [e.cpu_percent_mean for e in engines if e.cpu_percent_mean is not None]
    return GeneratorTotals(
        cpu_percent_mean=max(means) if means else None,
        loop_lag_ms_max=highest([e.loop_lag_ms_max for e in engines]),
        saturated=any(e.saturated for e in engines),
        rss_bytes_max=highest([e.rss_bytes_max for e in engines]),
        saturated_seconds=max((e.saturated_seconds for e in engines), default=0),
        engines=list(engines),
    )
