"""What the probe sends to the run model: samples of the server, its stalls, and which signals
the target offers."""

from __future__ import annotations

from dataclasses import dataclass, field

SIGNAL_SIDECAR = "metrics sidecar"
SIGNAL_APP_METRICS = "app /metrics"
SIGNAL_HEARTBEAT = "heartbeat"
SIGNAL_PROCESS = "process stats"
ALL_SIGNALS = (SIGNAL_SIDECAR, SIGNAL_HEARTBEAT, SIGNAL_PROCESS)
STALL_THRESHOLD_S = 0.1  # a loop whose last tick is older than this is stalled


@dataclass(frozen=True)
class ServerSample:
    """One look at the server (about four a second); None where a signal is unavailable."""

    mono: float
    # from the metrics sidecar
    threadpool_capacity: int | None = None
    threadpool_busy: int | None = None
    threadpool_waiting: int | None = None
    background_pending: dict[str, int] | None = None
    background_running: dict[str, int] | None = None
    background_completed: dict[str, int] | None = None
    requests_in_flight: int | None = None
    tick_age_s: float | None = None
    loop_lag_s: float | None = None
    # from the app's /heartbeat: round trip in ms, or None when it timed out or failed
    heartbeat_ms: float | None = None
    heartbeat_ok: bool | None = None
    # from psutil, for the server's process
    cpu_percent: float | None = None
    rss_bytes: int | None = None
    stalled_now: bool = False
    stall_culprit: str | None = None


@dataclass(frozen=True)
class Stall:
    started_at: str  # ISO 8601
    started_epoch: float
    duration_s: float
    ongoing: bool
    culprit: str
    location: str = ""
    stack: tuple[str, ...] = field(default=())
