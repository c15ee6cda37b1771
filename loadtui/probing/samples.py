"""What the probe sends to the run model: looks at the server (one sample per worker process
each time), its stalls, which signals the target offers, and its own failures."""

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
    """One look at one worker process of the server (about four a second); None where a
    signal is unavailable. Several workers give several samples with the same ``mono``."""

    mono: float
    pid: int | None = None  # the worker process, when known
    sidecar_ok: bool | None = None  # its sidecar answered this look (None: no sidecar known)
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
    cpu_cores: int | None = None  # the CPUs the process may run on
    stalled_now: bool = False
    stall: Stall | None = None  # the stall holding its loop now, as its sidecar named it
    stall_pid: int | None = None  # of the worker stalled now, in a look combining several
    pool_saturated_pids: tuple[int, ...] = ()  # workers whose pool is full, in such a look


@dataclass(frozen=True)
class Stall:
    started_at: str  # ISO 8601
    started_epoch: float
    duration_s: float
    ongoing: bool
    culprit: str
    location: str = ""
    stack: tuple[str, ...] = field(default=())
    pid: int | None = None  # the worker process whose loop stalled
    leaf: str = ""  # the library call the culprit was in ("psycopg Connection.wait"), or ""
    runqueue_share: float = 0.0  # of it, the share its thread waited for a CPU (a busy machine)


@dataclass(frozen=True)
class Holder:
    """An application function seen holding a thread, over one second of one worker."""

    function: str
    location: str = ""  # "file:line"
    leaf: str = ""  # the library call it was in ("time.sleep", "psycopg Connection.wait")
    threads: float = 0.0  # threads it held, on average over the second (loop: share of it)
    on_cpu: float = 0.0  # share of that time on CPU, 0-1
    python: float = 0.0  # share of its looks that found it running Python (not in a call), 0-1
    waiting_for: str = ""  # "database connection": inside SQLAlchemy's pool checkout
    db_pool: str = ""  # that pool's size when it could be read: "5 + 10 overflow"
    background: bool = False  # inside a sync background task


@dataclass(frozen=True)
class ThreadsLook:
    """One second of one worker's stack sampler: who held its threads, how busy its loop was."""

    epoch: int  # the second's start, on the wall clock
    pid: int | None = None
    loop_busy: float | None = None  # share of the second the loop ran code, 0-1
    loop: tuple[Holder, ...] = ()
    pool: tuple[Holder, ...] = ()
    other: tuple[Holder, ...] = ()
