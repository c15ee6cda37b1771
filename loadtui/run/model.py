"""The run model: one run (one route at one load), built from the engine's interval
snapshots and the probe's server samples.

The TUI, the headless printer, the verdicts and the run file all read it; the statistics it
keeps are computed by :mod:`loadtui.run.stats`, as the data arrives: a reader never refolds a long
run. Writers (the runner's engine pump, the probe thread) and readers (the UI timer) may be
different threads, hence the lock.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

from loadtui.engine import hdr
from loadtui.engine.messages import (
    EngineFailed,
    EngineFinished,
    EngineInfo,
    EngineStarted,
    IntervalSnapshot,
    NameInterval,
)
from loadtui.engine.plan import LoadPlan
from loadtui.engine.request_spec import RequestSpec
from loadtui.probing.samples import ServerSample, Stall, ThreadsLook
from loadtui.run import holders, saturation, stats, streaming
from loadtui.run.roster import Roster
from loadtui.run.rundoc import (
    MIN_INTERVAL_S,
    DrainPoint,
    GeneratorSecond,
    GeneratorTotals,
    Histogram,
    LatencyMs,
    RequestStats,
    ServerSecond,
    ServerTotals,
    Signals,
    StallWindow,
    State,
    Summary,
    ThreadsSecond,
    TimelineEntry,
)
from loadtui.run.stallnow import LiveStalls, StallNow
from loadtui.targets.target import Target

RECENT_SAMPLES = 240  # about a minute of server samples, for live figures and rates
MAX_THREAD_SECONDS = 86_400  # the stack samplers' seconds kept (a day of them)
LIVE_WINDOW_S = 1.0
PLACED_SECONDS = 120  # several engines: how far back a late engine's second is still added


def _second(
    snap: IntervalSnapshot, t: float, latency: hdr.LatencySummary, gap_max_ms: float | None
) -> TimelineEntry:
    return TimelineEntry(
        t=round(t, 3),
        seconds=round(snap.seconds, 3),
        requests=snap.requests,
        errors=sum(snap.errors.values()),
        errors_by_kind=dict(snap.errors),
        rps=stats.per_second(snap.requests, max(snap.seconds, MIN_INTERVAL_S)),
        p50_ms=latency.p50,
        p90_ms=latency.p90,
        p99_ms=latency.p99,
        max_ms=latency.max,
        users=snap.users,
        in_flight=snap.in_flight,
        oldest_in_flight_s=snap.oldest_in_flight_s,
        unsent=snap.unsent,
        intended=snap.intended,
        generator=GeneratorSecond(
            cpu_percent=snap.cpu_percent,
            loop_lag_ms=snap.loop_lag_ms,
            rss_bytes=snap.rss_bytes,
            open_fds=snap.open_fds,
            tasks=snap.tasks,
        ),
        hdr=snap.latency_hdr,
        events=snap.stream.events if snap.stream is not None else 0,
        gap_max_ms=gap_max_ms,
    )


@dataclass
class _Histograms:
    latency: HdrHistogram = field(default_factory=hdr.new_histogram)
    uncorrected: HdrHistogram | None = None  # open loop only
    send_lag: HdrHistogram | None = None
    first_byte: HdrHistogram | None = None  # none until a response began
    first_byte_uncorrected: HdrHistogram | None = None

    def add(self, snap: IntervalSnapshot) -> hdr.LatencySummary:
        """Add the snapshot's histograms; the summary of its latency histogram."""
        latency = hdr.decode(snap.latency_hdr)
        hdr.merge(self.latency, latency)
        summary = hdr.summarize(latency)
        hdr.release(latency)
        if snap.uncorrected_hdr is not None:
            self.uncorrected = self.uncorrected or hdr.new_histogram()
            hdr.add_encoded(self.uncorrected, snap.uncorrected_hdr)
        if snap.send_lag_hdr is not None:
            self.send_lag = self.send_lag or hdr.new_histogram()
            hdr.add_encoded(self.send_lag, snap.send_lag_hdr)
        self.first_byte = streaming.add_optional(self.first_byte, snap.first_byte_hdr)
        self.first_byte_uncorrected = streaming.add_optional(
            self.first_byte_uncorrected, snap.first_byte_uncorrected_hdr
        )
        return summary

    def encoded(self) -> dict[str, str]:
        found = {"latency": hdr.encode(self.latency)}
        if self.uncorrected is not None:
            found["uncorrected"] = hdr.encode(self.uncorrected)
        if self.send_lag is not None:
            found["send_lag"] = hdr.encode(self.send_lag)
        if self.first_byte is not None:
            found["first_byte"] = hdr.encode(self.first_byte)
        if self.first_byte_uncorrected is not None:
            found["first_byte_uncorrected"] = hdr.encode(self.first_byte_uncorrected)
        return found


@dataclass
class _NameTotals:
    """One named request of a mix, over the run."""

    requests: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latency: HdrHistogram = field(default_factory=hdr.new_histogram)
    first_byte: HdrHistogram | None = None
    stream: streaming.StreamTotals | None = None

    def add(self, interval: NameInterval) -> None:
        self.requests += interval.requests
        self.errors.update(interval.errors)
        hdr.add_encoded(self.latency, interval.latency_hdr)
        self.first_byte = streaming.add_optional(self.first_byte, interval.first_byte_hdr)
        self.stream = streaming.add_stream(self.stream, interval.stream)


@dataclass
class _OpenSecond:
    """A second whose server samples may still arrive (and, with several engines, figures)."""

    ended_mono: float
    second: TimelineEntry
    index: int


@dataclass
class RunModel:
    target: Target
    plan: LoadPlan
    variant_key: str | None = None
    variant_pattern: str | None = None
    mix: tuple[RequestSpec, ...] = ()  # a scenario's named requests (empty: one request)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    state: State = "starting"
    end_reason: str | None = None
    failure: str | None = None
    started_epoch: float | None = None
    finished_epoch: float | None = None
    t0_mono: float | None = None
    drain_s: float | None = None
    engines: int = 1  # engines feeding it; their seconds add up to the run's

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._histograms = _Histograms()
        self._streams: streaming.StreamTotals | None = None
        self._by_name = {spec.name: _NameTotals() for spec in self.mix}
        self._has_setup = any(spec.stage == "setup" for spec in self.mix)
        self._errors: Counter[str] = Counter()
        self._requests = 0
        self._last_response_mono: float | None = None
        self._unsent = 0
        self._ended_mono: float | None = None
        self._summary: Summary | None = None
        # the timeline: seconds whose server samples are all in, and the newest ones, still open
        self._closed: list[TimelineEntry] = []
        self._open: deque[_OpenSecond] = deque()
        self._placed: dict[int, int] = {}  # several engines: recent closed seconds by index
        self.roster = Roster(self.engines, self.plan.users)
        self._unassigned: list[ServerSample] = []  # samples not yet folded into a second
        self._recent: deque[ServerSample] = deque(maxlen=RECENT_SAMPLES)  # during the load
        self._server = stats.ServerRunning()
        self._workers: dict[int, stats.WorkerRunning] = {}
        self.probe_failure: str | None = None
        self._seconds = stats.SecondsRunning()
        self._stalls: dict[float, Stall] = {}
        self._live_stalls = LiveStalls()
        self._threads: dict[int, dict[int | None, ThreadsLook]] = {}  # epoch -> pid -> look
        self._threads_combined: tuple[int, list[ThreadsSecond]] = (-1, [])  # at a version
        self._lag_judged: tuple[int, Callable[[StallWindow], bool]] = (-1, lambda _w: False)
        self._drain: list[tuple[float, ServerSample]] = []
        self.signals = Signals()
        self.version = 0  # bumped on every change; readers use it to skip redraws
        self._listeners: list[Callable[[object, int], None]] = []

    # ---- writers ---------------------------------------------------------------------
    def listen(self, listener: Callable[[object, int], None]) -> None:
        """Call ``listener(message, engine)`` with each engine message once it is added (live
        metrics out: ``loadtui.run.exporter``), on the thread that adds it, under the lock."""
        with self._lock:
            self._listeners.append(listener)

    def set_engines(self, infos: list[EngineInfo]) -> None:
        """Where the engines run (the runner knows once they started)."""
        with self._lock:
            self.roster.describe(infos)

    def add_engine_message(self, message: object, engine: int = 0) -> None:
        """What engine ``engine`` (0-based) said."""
        with self._lock:
            if isinstance(message, EngineStarted):
                self.roster.started_epoch[engine] = message.started_epoch
                if self.t0_mono is None:  # several engines start together: the first is t0
                    self.t0_mono = message.started_mono
                    self.started_epoch = message.started_epoch
                    self.state = "running"
            elif isinstance(message, IntervalSnapshot):
                self._add_interval(message, engine)
            elif isinstance(message, EngineFinished):
                self.roster.finish(engine, message.reason)
            elif isinstance(message, EngineFailed):
                self._engine_failed(engine, message.message)
            self.end_reason = self.roster.end_reason
            self.version += 1
            for listener in self._listeners:
                listener(message, engine)

    def _engine_failed(self, engine: int, why: str) -> None:
        """One engine of one fails the run; one of several is lost and the others go on."""
        self.roster.lose(engine, why, self.elapsed_s())
        if self.engines == 1:
            self.failure = why
        elif not self.roster.finished and self.roster.done:
            self.failure = f"every engine was lost; {self.roster.name(engine)}: {why}"

    def _add_interval(self, snap: IntervalSnapshot, engine: int) -> None:
        self._summary = None  # the summary is client-side: only intervals change it
        latency = self._histograms.add(snap)
        gap_max_ms = None
        if snap.stream is not None:
            self._streams = self._streams or streaming.StreamTotals()
            gap_max_ms = self._streams.add(snap.stream)
        for name, interval in (snap.by_name or {}).items():
            if name in self._by_name:
                self._by_name[name].add(interval)
        self._requests += snap.requests
        self._errors.update(snap.errors)
        self._unsent = self.roster.add(engine, snap)
        self._ended_mono = max(snap.ended_mono, self._ended_mono or snap.ended_mono)
        if snap.last_response_mono is not None:
            self._last_response_mono = max(
                snap.last_response_mono, self._last_response_mono or snap.last_response_mono
            )
        t0 = self.t0_mono if self.t0_mono is not None else snap.started_mono
        second = _second(snap, snap.ended_mono - t0, latency, gap_max_ms)
        if self.engines > 1 and self._add_to_second(snap.index, second):
            return
        # the previous second has had a whole second for its samples to arrive
        self._close_seconds(before=snap.started_mono + 1e-9)
        self._open.append(_OpenSecond(snap.ended_mono, second, snap.index))

    def _add_to_second(self, index: int, second: TimelineEntry) -> bool:
        """Add one engine's figures to the second other engines already gave; False if it is
        the first of that second."""
        for record in self._open:
            if record.index == index:
                record.second = stats.add_seconds([record.second, second])
                return True
        place = self._placed.get(index)
        if place is None:
            return False
        self._closed[place] = stats.add_seconds([self._closed[place], second])
        return True

    def add_server_look(self, samples: list[ServerSample]) -> None:
        """One look at the server: a sample per worker process (one when there is one)."""
        if not samples:
            return
        sample = stats.combine(samples)
        with self._lock:
            self._live_stalls.look(samples)
            if self.finished or self.engine_done:
                self._drain.append((sample.mono, sample))
            else:
                for worker in samples:
                    if worker.pid is not None:
                        self._workers.setdefault(worker.pid, stats.WorkerRunning(worker.pid))
                        self._workers[worker.pid].add(worker)
                self._recent.append(sample)
                self._server.add(sample)
                self._unassigned.append(sample)
                self._close_seconds(before=sample.mono)
            self.version += 1

    def _close_seconds(self, before: float) -> None:
        """Fold the server samples into every open second that ended by ``before``."""
        while self._open and self._open[0].ended_mono <= before:
            record = self._open.popleft()
            cut = next(
                (i for i, s in enumerate(self._unassigned) if s.mono >= record.ended_mono),
                len(self._unassigned),
            )
            window, self._unassigned = self._unassigned[:cut], self._unassigned[cut:]
            closed = record.second.model_copy(update={"server": stats.fold(window)})
            if self.engines > 1:
                self._placed[record.index] = len(self._closed)
                if len(self._placed) > PLACED_SECONDS:
                    del self._placed[next(iter(self._placed))]
            self._closed.append(closed)
            self._seconds.add(closed)

    def add_stalls(self, stalls: list[Stall]) -> bool:
        """Stalls as the probe heard of them; True when one began or ended (for the screen)."""
        with self._lock:
            for stall in stalls:
                self._stalls[round(stall.started_epoch, 3)] = stall
            self.version += 1
            return self._live_stalls.hear(stalls, time.monotonic())

    def add_threads(self, looks: list[ThreadsLook]) -> None:
        """The stack samplers' seconds (several workers' may arrive apart)."""
        with self._lock:
            for look in looks:
                if len(self._threads) < MAX_THREAD_SECONDS or look.epoch in self._threads:
                    self._threads.setdefault(look.epoch, {})[look.pid] = look
            self.version += 1

    def set_probe_failure(self, message: str) -> None:
        with self._lock:
            self.probe_failure = message
            self.version += 1

    def set_signals(self, available: list[str], missing: list[str]) -> None:
        with self._lock:
            self.signals = Signals(available=list(available), missing=list(missing))
            self.version += 1

    def finish(self, state: State) -> None:
        with self._lock:
            self._close_seconds(before=float("inf"))
            self.state = state
            self.finished_epoch = self._finished_epoch()
            self.version += 1

    def _finished_epoch(self) -> float:
        if self.started_epoch is not None and self.t0_mono is not None and self._ended_mono:
            return self.started_epoch + (self._ended_mono - self.t0_mono)
        return time.time()

    # ---- state -------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.state in ("finished", "interrupted", "failed")

    @property
    def engine_done(self) -> bool:
        """Every engine said it finished or failed, or was lost (their last snapshots are in)."""
        return self.end_reason is not None or self.failure is not None

    def elapsed_s(self) -> float:
        with self._lock:
            if self.t0_mono is None or self._ended_mono is None:
                return 0.0
            return max(0.0, self._ended_mono - self.t0_mono)

    # ---- the client side -----------------------------------------------------------------
    def timeline(self) -> list[TimelineEntry]:
        """Every second so far; the newest may not have all their server samples yet."""
        with self._lock:
            return self._closed + [record.second for record in self._open]

    def recent(self, count: int) -> list[TimelineEntry]:
        """The last ``count`` seconds (cheap on a long run)."""
        with self._lock:
            opened = [record.second for record in self._open]
            return (self._closed[-count:] + opened)[-count:] if count > 0 else []

    def latest(self) -> TimelineEntry | None:
        found = self.recent(1)
        return found[0] if found else None

    def histogram(self) -> HdrHistogram:
        """A copy of the whole run's latency histogram."""
        with self._lock:
            copy = hdr.new_histogram()
            hdr.merge(copy, self._histograms.latency)
            return copy

    def encoded_histograms(self) -> dict[str, str]:
        with self._lock:
            return self._histograms.encoded()

    def summary(self) -> Summary:
        with self._lock:
            if self._summary is None:
                self._summary = self._compute_summary()
            return self._summary

    def _compute_summary(self) -> Summary:
        to_last = None
        if self._last_response_mono is not None and self.t0_mono is not None:
            span = self._last_response_mono - self.t0_mono
            to_last = stats.per_second(self._requests, span) if span > 0 else None
        histograms = self._histograms
        return stats.summary(
            self._requests,
            self._errors,
            self.elapsed_s(),
            histograms.latency,
            histograms.uncorrected,
            histograms.send_lag,
            unsent=self._unsent if self.plan.mode == "open" else None,
            rps_to_last_response=to_last,
            in_flight=self.roster.in_flight(),
            first_byte=histograms.first_byte,
            first_byte_uncorrected=histograms.first_byte_uncorrected,
            stream=self._streams.stats(self.elapsed_s()) if self._streams else None,
            setup_pending=self.roster.setup_pending() if self._has_setup else None,
        )

    def request_stats(self) -> list[RequestStats]:
        """Each named request of the mix over the run so far (empty for a single request)."""
        with self._lock:
            duration = self.elapsed_s()
            return [self._name_stats(spec, duration) for spec in self.mix]

    def _name_stats(self, spec: RequestSpec, duration: float) -> RequestStats:
        totals = self._by_name[spec.name]
        return RequestStats(
            name=spec.name,
            method=spec.method,
            path=spec.path,
            weight=spec.weight,
            requests=totals.requests,
            errors=sum(totals.errors.values()),
            errors_by_kind=dict(totals.errors),
            rps=stats.per_second(totals.requests, duration),
            latency_ms=LatencyMs.of(hdr.summarize(totals.latency)),
            histogram=Histogram(data=hdr.encode(totals.latency)),
            first_byte_ms=streaming.latency_ms(totals.first_byte),
            first_byte_histogram=(
                Histogram(data=hdr.encode(totals.first_byte)) if totals.first_byte else None
            ),
            stream=totals.stream.stats(duration) if totals.stream else None,
        )

    def unreachable_requests(self) -> int:
        kinds = self.summary().errors_by_kind
        return sum(n for kind, n in kinds.items() if kind in stats.UNREACHABLE_KINDS)

    @property
    def seconds(self) -> stats.SecondsRunning:
        """Totals over the closed seconds (pool saturation, the server's requests in flight)."""
        return self._seconds

    # ---- the engines -----------------------------------------------------------------------
    def generator_totals(self) -> GeneratorTotals:
        with self._lock:
            return stats.generator_totals(self.roster.totals(self.started_epoch))

    def live_engines(self) -> list[int]:
        """The engines still running (0-based), among which users are shared."""
        with self._lock:
            return self.roster.live()

    # ---- the server side -------------------------------------------------------------------
    def _newest(self, count: int) -> list[ServerSample]:
        """The newest ``count`` samples: of the drain once it began, else of the load."""
        if self._drain:
            return [s for _, s in self._drain[-count:]]
        return list(self._recent)[-count:]

    def latest_sample(self) -> ServerSample | None:
        with self._lock:
            newest = self._newest(1)
            return newest[0] if newest else None

    def stall_now(self) -> StallNow | None:
        """The stall holding the server's loop now (the longest, with several workers); none
        while it is young enough to be the lag of a loop last seen saturated."""
        with self._lock:
            now = self._live_stalls.now()
            if now is None or saturation.young_lag(now.seconds, self.latest_threads()):
                return None
            return now

    def server_window(self, seconds: float = LIVE_WINDOW_S) -> ServerSecond:
        """The newest samples within ``seconds``, folded (for live display)."""
        with self._lock:
            newest = self._newest(12)
            if not newest:
                return ServerSecond()
            return stats.fold([s for s in newest if s.mono > newest[-1].mono - seconds])

    def backlog(self) -> stats.Backlog | None:
        """Background tasks pending when the load last looked, with drain estimates."""
        with self._lock:
            samples = list(self._recent)
        return stats.backlog(samples, self.elapsed_s())

    def stall_windows(self) -> list[StallWindow]:
        """The stalls that fell within the run (clipped to it), in order; those that were a
        saturated loop's lag marked so (:mod:`loadtui.run.saturation`)."""
        with self._lock:
            if self.started_epoch is None:
                return []
            start = self.started_epoch
            windows = stats.stall_windows(self._stalls.values(), start, start + self.elapsed_s())
            if self._lag_judged[0] != self.version:  # seven verdicts ask per judging
                self._lag_judged = (self.version, saturation.lag_judge(self.threads(), start))
            lag = self._lag_judged[1]
            return [w.model_copy(update={"saturation_lag": True}) if lag(w) else w for w in windows]

    def threads(self) -> list[ThreadsSecond]:
        """Who held the server's threads, second by second, within the run."""
        with self._lock:
            if self.started_epoch is None:
                return []
            if self._threads_combined[0] != self.version:  # several verdicts ask per judging
                start, end = self.started_epoch, self.started_epoch + self.elapsed_s()
                combined = [
                    holders.combine(list(by_pid.values()), epoch + 1 - start)
                    for epoch, by_pid in sorted(self._threads.items())
                    if start - 1 < epoch < end
                ]
                self._threads_combined = (self.version, combined)
            return list(self._threads_combined[1])

    def latest_threads(self) -> ThreadsSecond | None:
        """The newest second the stack samplers gave (for live display)."""
        with self._lock:
            if not self._threads or self.started_epoch is None:
                return None
            epoch = max(self._threads)
            return holders.combine(
                list(self._threads[epoch].values()), epoch + 1 - self.started_epoch
            )

    def server_cores(self) -> int | None:
        """The CPUs the server's processes may run on, where its processes are watched."""
        with self._lock:
            cores = self._server.peak("cpu_cores")
            return int(cores) if cores is not None else None

    @property
    def workers(self) -> int:
        """How many worker processes the probe watches (0: none known)."""
        return len(self._workers)

    def pool_saturated_pids(self) -> list[int]:
        with self._lock:
            return sorted(pid for pid, w in self._workers.items() if w.pool_saturated_looks)

    def unanswered_s(self) -> tuple[float, float]:
        """(seconds the app's /heartbeat went unanswered, seconds nothing answered at all)."""
        with self._lock:
            return self._server.heartbeat_unanswered_s, self._server.unresponsive_s

    def server_totals(self) -> ServerTotals:
        with self._lock:
            totals = self._server.totals()
            stalls = self.stall_windows()
            t0 = self.t0_mono or 0.0
            drain = [
                (mono, s.background_pending)
                for mono, s in self._drain
                if s.background_pending is not None
            ]
            after = sum(drain[-1][1].values()) if self.drain_s is not None and drain else None
            return totals.model_copy(
                update={
                    "stalls": stalls,
                    "workers": [
                        w.totals([s for s in stalls if not s.saturation_lag])
                        for _, w in sorted(self._workers.items())
                    ],
                    "probe_failure": self.probe_failure,
                    "background_tasks_pending_after_drain": after,
                    "drain_s": self.drain_s,
                    "drain": [
                        DrainPoint(t=round(max(0.0, mono - t0), 3), pending=sum(pending.values()))
                        for mono, pending in drain
                    ],
                    "signals": self.signals,
                    "threads": self.threads(),
                }
            )
