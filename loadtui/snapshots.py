"""Typed messages: the load plan, the engine's interval snapshots, the probe's server samples.

These are the only things that cross from the engine process and the probe thread into the
run model; everything the UI, the headless printer and the run file show is derived from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["closed", "open"]


@dataclass(frozen=True)
class LoadPlan:
    mode: Mode = "closed"
    users: int = 100  # closed: simulated users; open: most connections in use at once
    spawn_rate: float = 20.0  # users started per second
    duration_s: float | None = 30.0  # None: until stopped
    think_s: tuple[float, float] = (0.1, 0.5)
    rate: float | None = None  # open loop: requests per second
    timeout_s: float = 60.0


@dataclass(frozen=True)
class Target:
    url: str  # the app's base URL, e.g. http://127.0.0.1:8000
    host: str
    port: int
    route: str  # the path that gets loaded, e.g. /ping
    spawned: bool = False
    metrics_url: str | None = None  # the sidecar, when known
    pid: int | None = None  # the server's process, when loadtui spawned it


# ---- engine -> parent ------------------------------------------------------------------
@dataclass(frozen=True)
class EngineStarted:
    started_mono: float
    started_epoch: float
    pid: int


@dataclass(frozen=True)
class IntervalSnapshot:
    """What the engine measured over one interval (normally one second)."""

    index: int  # 1-based
    started_mono: float
    ended_mono: float
    requests: int  # completed, failed ones included (each has a latency)
    errors: dict[str, int]  # kind -> count: refused, timeout, disconnect, http_500, ...
    latency_hdr: str  # microseconds; open loop: from the intended send time
    users: int  # closed: users running; open: connections busy at the end
    in_flight: int
    loop_lag_max_ms: float  # the engine's own event-loop lag
    cpu_percent: float  # the engine process, % of one core
    uncorrected_hdr: str | None = None  # open loop: from the actual send time
    send_lag_hdr: str | None = None  # open loop: actual minus intended send time
    unsent: int = 0  # open loop: requests due but not sent yet (all connections busy)
    last_response_mono: float | None = None  # when this interval's last request completed
    rss_bytes: int = 0  # the engine process's resident memory
    open_fds: int = 0  # ... its open file descriptors (sockets included)
    tasks: int = 0  # ... and its asyncio tasks
    final: bool = False

    @property
    def seconds(self) -> float:
        return max(1e-9, self.ended_mono - self.started_mono)


@dataclass(frozen=True)
class EngineFinished:
    reason: str  # "duration", "stopped" or "parent_gone"
    ended_mono: float


@dataclass(frozen=True)
class EngineFailed:
    message: str


EngineMessage = EngineStarted | IntervalSnapshot | EngineFinished | EngineFailed


# ---- probe -> parent -------------------------------------------------------------------
@dataclass(frozen=True)
class ServerSample:
    """One look at the server (about four a second); None where a signal is unavailable."""

    mono: float
    # from the metrics sidecar
    threadpool_capacity: int | None = None
    threadpool_busy: int | None = None
    threadpool_waiting: int | None = None
    bg_pending: dict[str, int] | None = None
    bg_running: dict[str, int] | None = None
    bg_completed: dict[str, int] | None = None
    in_flight: int | None = None
    tick_age_s: float | None = None
    loop_lag_s: float | None = None
    stalls_total: int | None = None
    # from the app's /heartbeat: round trip in ms, or None when it timed out or failed
    heartbeat_ms: float | None = None
    heartbeat_ok: bool | None = None
    # from psutil, for a server loadtui spawned
    cpu_percent: float | None = None
    rss_bytes: int | None = None
    threads: int | None = None
    open_fds: int | None = None
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
