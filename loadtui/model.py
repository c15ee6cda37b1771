"""The run model: one segment (one route at one load), built from the engine's interval
snapshots and the probe's server samples.

It is the one place statistics live. The TUI, the headless printer, the verdicts and the run
file all read it; nothing keeps a second copy. Writers (the session's engine pump, the probe
thread) and readers (the UI timer) may be different threads, hence the lock.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from statistics import fmean
from typing import Literal

from hdrh.histogram import HdrHistogram

from loadtui import hdr
from loadtui.engine_messages import EngineFailed, EngineFinished, EngineStarted, IntervalSnapshot
from loadtui.plan import LoadPlan
from loadtui.server_samples import ServerSample, Stall
from loadtui.target import Target

State = Literal["starting", "running", "finished", "interrupted", "failed"]
SATURATED_CPU_PERCENT = 90.0
SATURATED_LAG_MS = 50.0
SATURATED_MIN_SECONDS = 2  # a run is flagged once this many intervals were saturated
UNREACHABLE_KINDS = frozenset({"refused", "connect_error"})


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class IntervalStats:
    """One timeline second, client side."""

    index: int
    t: float  # seconds from the start of the run to the end of this interval
    seconds: float
    requests: int
    errors: int
    errors_by_kind: dict[str, int]
    rps: float
    latency: hdr.LatencySummary
    users: int
    in_flight: int
    unsent: int
    engine_cpu_percent: float
    engine_lag_ms: float
    engine_rss_bytes: int
    engine_open_fds: int
    engine_tasks: int
    hdr: str

    @property
    def generator_saturated(self) -> bool:
        return (
            self.engine_cpu_percent >= SATURATED_CPU_PERCENT
            or self.engine_lag_ms >= SATURATED_LAG_MS
        )


@dataclass(frozen=True)
class ServerWindow:
    """The probe's samples over one timeline second, folded."""

    samples: int = 0
    cpu_percent: float | None = None
    rss_bytes: int | None = None
    threadpool_capacity: int | None = None
    threadpool_busy: int | None = None
    threadpool_waiting: int | None = None
    background_pending: dict[str, int] | None = None
    background_running: dict[str, int] | None = None
    in_flight: int | None = None
    tick_age_max_s: float | None = None
    loop_lag_max_s: float | None = None
    heartbeat_ms_max: float | None = None
    heartbeat_failures: int = 0
    stalled: bool = False

    @property
    def bg_pending_total(self) -> int | None:
        return (
            sum(self.background_pending.values()) if self.background_pending is not None else None
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "samples": self.samples,
            "cpu_percent": self.cpu_percent,
            "rss_bytes": self.rss_bytes,
            "threadpool_capacity": self.threadpool_capacity,
            "threadpool_busy": self.threadpool_busy,
            "threadpool_waiting": self.threadpool_waiting,
            "background_pending": self.background_pending,
            "background_running": self.background_running,
            "requests_in_flight": self.in_flight,
            "tick_age_max_s": self.tick_age_max_s,
            "loop_lag_max_s": self.loop_lag_max_s,
            "heartbeat_ms_max": self.heartbeat_ms_max,
            "heartbeat_failures": self.heartbeat_failures,
            "stalled": self.stalled,
        }


def _fold(samples: list[ServerSample]) -> ServerWindow:
    if not samples:
        return ServerWindow()
    last = samples[-1]

    def values(name: str) -> list[float]:
        return [v for s in samples if (v := getattr(s, name)) is not None]

    def peak(name: str) -> float | None:
        found = values(name)
        return max(found) if found else None

    cpu = values("cpu_percent")
    beats = [s.heartbeat_ok for s in samples if s.heartbeat_ok is not None]
    return ServerWindow(
        samples=len(samples),
        cpu_percent=round(fmean(cpu), 2) if cpu else None,
        rss_bytes=peak("rss_bytes"),  # type: ignore[arg-type]
        threadpool_capacity=last.threadpool_capacity,
        threadpool_busy=peak("threadpool_busy"),  # type: ignore[arg-type]
        threadpool_waiting=peak("threadpool_waiting"),  # type: ignore[arg-type]
        background_pending=last.background_pending,
        background_running=last.background_running,
        in_flight=peak("requests_in_flight"),  # type: ignore[arg-type]
        tick_age_max_s=peak("tick_age_s"),
        loop_lag_max_s=peak("loop_lag_s"),
        heartbeat_ms_max=peak("heartbeat_ms"),
        heartbeat_failures=sum(1 for ok in beats if not ok),
        stalled=any(s.stalled_now for s in samples),
    )


@dataclass(frozen=True)
class TimelineEntry:
    client: IntervalStats
    server: ServerWindow


@dataclass(frozen=True)
class Summary:
    requests: int
    errors: int
    errors_by_kind: dict[str, int]
    duration_s: float
    rps: float
    rps_to_last_response: float | None  # Locust's convention, for comparison
    latency: hdr.LatencySummary
    latency_uncorrected: hdr.LatencySummary | None
    send_lag: hdr.LatencySummary | None
    unsent: int


@dataclass
class RunModel:
    target: Target
    plan: LoadPlan
    variant_key: str | None = None
    variant_pattern: str | None = None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    state: State = "starting"
    end_reason: str | None = None
    failure: str | None = None
    started_epoch: float | None = None
    finished_epoch: float | None = None
    t0_mono: float | None = None
    drain_s: float | None = None

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._intervals: list[IntervalStats] = []
        self._snapshots_ended: list[float] = []
        self._latency = hdr.new_histogram()
        self._uncorrected: HdrHistogram | None = None
        self._send_lag: HdrHistogram | None = None
        self._errors: Counter[str] = Counter()
        self._requests = 0
        self._last_response_mono: float | None = None
        self._unsent = 0
        self._samples: list[ServerSample] = []
        self._stalls: dict[float, Stall] = {}
        self._drain: list[tuple[float, ServerSample]] = []
        self.signals_available: list[str] = []
        self.signals_missing: list[str] = []
        self._ended_mono: float | None = None
        self._summary: Summary | None = None
        self.version = 0  # bumped on every change; readers use it to skip redraws

    # ---- writers ---------------------------------------------------------------------
    def add_engine_message(self, message: object) -> None:
        with self._lock:
            if isinstance(message, EngineStarted):
                self.t0_mono = message.started_mono
                self.started_epoch = message.started_epoch
                self.state = "running"
            elif isinstance(message, IntervalSnapshot):
                self._add_interval(message)
            elif isinstance(message, EngineFinished):
                self.end_reason = message.reason
            elif isinstance(message, EngineFailed):
                self.failure = message.message
            self._changed()

    def _add_interval(self, snap: IntervalSnapshot) -> None:
        self._summary = None  # the summary is client-side: only intervals change it
        latency = hdr.decode(snap.latency_hdr)
        hdr.merge(self._latency, latency)
        if snap.uncorrected_hdr is not None:
            self._uncorrected = self._uncorrected or hdr.new_histogram()
            hdr.add_encoded(self._uncorrected, snap.uncorrected_hdr)
        if snap.send_lag_hdr is not None:
            self._send_lag = self._send_lag or hdr.new_histogram()
            hdr.add_encoded(self._send_lag, snap.send_lag_hdr)
        self._requests += snap.requests
        self._errors.update(snap.errors)
        self._unsent = snap.unsent
        self._ended_mono = snap.ended_mono
        if snap.last_response_mono is not None:
            self._last_response_mono = snap.last_response_mono
        t0 = self.t0_mono if self.t0_mono is not None else snap.started_mono
        self._intervals.append(
            IntervalStats(
                index=snap.index,
                t=round(snap.ended_mono - t0, 3),
                seconds=snap.seconds,
                requests=snap.requests,
                errors=sum(snap.errors.values()),
                errors_by_kind=dict(snap.errors),
                rps=round(snap.requests / snap.seconds, 3),
                latency=hdr.summarize(latency),
                users=snap.users,
                in_flight=snap.in_flight,
                unsent=snap.unsent,
                engine_cpu_percent=snap.cpu_percent,
                engine_lag_ms=snap.loop_lag_ms,
                engine_rss_bytes=snap.rss_bytes,
                engine_open_fds=snap.open_fds,
                engine_tasks=snap.tasks,
                hdr=snap.latency_hdr,
            )
        )
        self._snapshots_ended.append(snap.ended_mono)
        hdr.release(latency)

    def add_server_sample(self, sample: ServerSample) -> None:
        with self._lock:
            if self.finished or self.engine_done:
                self._drain.append((sample.mono, sample))
            else:
                self._samples.append(sample)
            self._changed()

    @property
    def engine_done(self) -> bool:
        """The engine said it finished or failed (its last snapshot is in)."""
        return self.end_reason is not None or self.failure is not None

    def add_stalls(self, stalls: list[Stall]) -> None:
        with self._lock:
            for stall in stalls:
                self._stalls[round(stall.started_epoch, 3)] = stall
            self._changed()

    def set_signals(self, available: list[str], missing: list[str]) -> None:
        with self._lock:
            self.signals_available, self.signals_missing = list(available), list(missing)
            self._changed()

    def finish(self, state: State) -> None:
        with self._lock:
            self.state = state
            self.finished_epoch = self._finished_epoch()
            self._changed()

    def _finished_epoch(self) -> float:
        if self.started_epoch is not None and self.t0_mono is not None and self._ended_mono:
            return self.started_epoch + (self._ended_mono - self.t0_mono)
        return time.time()

    def _changed(self) -> None:
        self.version += 1

    # ---- readers ---------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.state in ("finished", "interrupted", "failed")

    def intervals(self) -> list[IntervalStats]:
        with self._lock:
            return list(self._intervals)

    def latest(self) -> IntervalStats | None:
        with self._lock:
            return self._intervals[-1] if self._intervals else None

    def latest_sample(self) -> ServerSample | None:
        with self._lock:
            if self._drain:
                return self._drain[-1][1]
            return self._samples[-1] if self._samples else None

    def samples(self) -> list[ServerSample]:
        with self._lock:
            return list(self._samples)

    def drain_samples(self) -> list[tuple[float, ServerSample]]:
        with self._lock:
            return list(self._drain)

    def stalls(self) -> list[Stall]:
        with self._lock:
            return sorted(self._stalls.values(), key=lambda s: s.started_epoch)

    def histogram(self) -> HdrHistogram:
        with self._lock:
            copy = hdr.new_histogram()
            hdr.merge(copy, self._latency)
            return copy

    def encoded_histograms(self) -> dict[str, str]:
        with self._lock:
            found = {"latency": hdr.encode(self._latency)}
            if self._uncorrected is not None:
                found["uncorrected"] = hdr.encode(self._uncorrected)
            if self._send_lag is not None:
                found["send_lag"] = hdr.encode(self._send_lag)
            return found

    def elapsed_s(self) -> float:
        with self._lock:
            if self.t0_mono is None or self._ended_mono is None:
                return 0.0
            return max(0.0, self._ended_mono - self.t0_mono)

    def summary(self) -> Summary:
        with self._lock:
            if self._summary is None:
                self._summary = self._compute_summary()
            return self._summary

    def _compute_summary(self) -> Summary:
        duration = self.elapsed_s()
        to_last = None
        if self._last_response_mono is not None and self.t0_mono is not None:
            span = self._last_response_mono - self.t0_mono
            to_last = round(self._requests / span, 3) if span > 0 else None
        return Summary(
            requests=self._requests,
            errors=sum(self._errors.values()),
            errors_by_kind=dict(self._errors),
            duration_s=round(duration, 3),
            rps=round(self._requests / duration, 3) if duration > 0 else 0.0,
            rps_to_last_response=to_last,
            latency=hdr.summarize(self._latency),
            latency_uncorrected=hdr.summarize(self._uncorrected) if self._uncorrected else None,
            send_lag=hdr.summarize(self._send_lag) if self._send_lag else None,
            unsent=self._unsent,
        )

    def timeline(self) -> list[TimelineEntry]:
        """One entry per interval, each with the server samples taken during it."""
        with self._lock:
            intervals, samples = list(self._intervals), list(self._samples)
            ends = list(self._snapshots_ended)
        entries: list[TimelineEntry] = []
        position = 0
        for interval, ended in zip(intervals, ends, strict=True):
            window: list[ServerSample] = []
            while position < len(samples) and samples[position].mono < ended:
                window.append(samples[position])
                position += 1
            entries.append(TimelineEntry(interval, _fold(window)))
        return entries

    def server_window(self, seconds: float = 1.0) -> ServerWindow:
        """The server samples of the last ``seconds``, folded (for live display)."""
        with self._lock:
            source = [s for _, s in self._drain] or self._samples
            if not source:
                return ServerWindow()
            newest = source[-1].mono
            return _fold([s for s in source[-12:] if s.mono > newest - seconds])

    def generator_saturated_seconds(self) -> int:
        # The first interval carries start-up (imports, opening connections): not counted.
        return sum(1 for i in self.intervals()[1:] if i.generator_saturated)

    def generator_saturated(self) -> bool:
        return self.generator_saturated_seconds() >= SATURATED_MIN_SECONDS

    def unreachable_fraction(self) -> float:
        summary = self.summary()
        if summary.requests == 0:
            return 0.0
        failed = sum(n for k, n in summary.errors_by_kind.items() if k in UNREACHABLE_KINDS)
        return failed / summary.requests
