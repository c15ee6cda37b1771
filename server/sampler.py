"""Who holds the server's threads, and how busy its loop is: a stack sampler on a thread of its
own, beside the sidecar.

While loadtui watches (a probe asked for ``/samples`` within the last ``WATCHED_S`` seconds), it
looks at every thread's stack ``hz`` times a second (``sys._current_frames()``): the event
loop's thread, AnyIO's worker threads (the thread pool) and any other thread running application
code. Each look at a thread is put down to its innermost application frame and that frame's leaf
(:mod:`loadtui.server.appframes`: the same rule as a stall's culprit), marked on CPU or waiting
(the thread's CPU time, ``/proc/self/task/TID/schedstat``, read on a descriptor kept open) and,
when SQLAlchemy's pool frames are inside it, waiting for a database connection. The loop's thread
is *busy* when it is not waiting in its selector.

Kept per second of the wall clock, the last ``KEEP_SECONDS`` of them, at most ``TOP`` holders
per group each: bounded whatever the app does. Nothing runs while nobody watches.
"""

from __future__ import annotations

import dis
import functools
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from types import CodeType, FrameType

from . import schedstat
from .appframes import AppCode, described

DEFAULT_HZ = 100
MAX_HZ = 1000
WATCHED_S = 5.0  # sample this long after the last /samples request
KEEP_SECONDS = 30
TOP = 8  # holders per group and second
MAX_SITES = 4096  # places in the code remembered
POOL_THREAD = "AnyIO worker thread"
OWN_THREADS = "loadtui-"  # the sidecar's, the watchdog's, the sampler's own
GROUPS = ("loop", "pool", "other")
DB_POOL_MODULE = "sqlalchemy.pool"
DB_CHECKOUT = "_do_get"
# The loop's thread waiting for events: in its selector (asyncio) or back in the loop's runner
# with no Python frame above it (uvloop waits in C).
IDLE_LOOP_MODULES = frozenset({"selectors", "asyncio.runners"})
# Instructions that run C code which may let the GIL go (a call, a with, an import, a C
# iterator's next): a thread seen at any other instruction was running Python, holding the GIL or
# waiting for it. Names missing from this Python's opcodes are left out.
_CALLING = frozenset(
    dis.opmap[name]
    for name in (
        "CALL", "PRECALL", "CALL_FUNCTION_EX", "CALL_KW", "BEFORE_WITH", "BEFORE_ASYNC_WITH",
        "IMPORT_NAME", "IMPORT_FROM", "IMPORT_STAR", "FOR_ITER", "SEND",
    )
    if name in dis.opmap
)  # fmt: skip


@dataclass
class Holder:
    """Thread-samples of one application function in one second."""

    function: str
    location: str
    leaf: str
    waiting_for: str = ""  # "database connection" when inside SQLAlchemy's pool checkout
    db_pool: str = ""  # that pool's size, e.g. "5 + 10 overflow", when it could be read
    background: bool = False  # inside a sync background task
    samples: int = 0
    cpu: float = 0.0  # of those samples, the share of time on CPU, summed
    python: int = 0  # of those samples, those that found it running Python (not in a call)

    def to_dict(self, looks: int) -> dict[str, object]:
        return {
            "function": self.function,
            "location": self.location,
            "leaf": self.leaf,
            "waiting_for": self.waiting_for,
            "db_pool": self.db_pool,
            "background": self.background,
            "threads": round(self.samples / looks, 3),  # threads held, on average
            "on_cpu": round(self.cpu / self.samples, 3) if self.samples else 0.0,
            "python": round(self.python / self.samples, 3) if self.samples else 0.0,
        }


@dataclass
class Second:
    epoch: int
    looks: int = 0
    loop_busy: int = 0  # looks that found the loop's thread running code
    loop_seen: int = 0  # looks that found the loop's thread at all
    holders: dict[str, dict[tuple[str, str, str, bool], Holder]] = field(
        default_factory=lambda: {group: {} for group in GROUPS}
    )

    def to_dict(self) -> dict[str, object]:
        looks = max(1, self.looks)
        return {
            "second": self.epoch,
            "looks": self.looks,
            "loop_busy": round(self.loop_busy / self.loop_seen, 3) if self.loop_seen else None,
            **{
                group: [h.to_dict(looks) for h in _top(self.holders[group].values())]
                for group in GROUPS
            },
        }


def _top(holders: object) -> list[Holder]:
    return sorted(holders, key=lambda h: -h.samples)[:TOP]  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Site:
    """A place in the app's code and what it was found inside (the sampler's cache)."""

    code: CodeType
    inner: CodeType | None  # the innermost frame's code, when it is not the app's own
    function: str
    location: str
    leaf: str
    waiting_for: str
    db_pool: str


class CpuClock:
    """Each thread's time on CPU or runnable (ready, waiting for a core: a busy machine's hashing
    threads still want the CPU), from its schedstat on a descriptor kept open (about 1 µs)."""

    def __init__(self) -> None:
        self._fds: dict[int, int] = {}  # native thread id -> descriptor
        self._last: dict[int, tuple[int, int]] = {}  # native id -> (cpu ns, wall ns)

    def share(self, native_id: int | None) -> float | None:
        """The share of the time since the last call the thread was on CPU or ready for it."""
        if native_id is None:
            return None
        cpu = self._read(native_id)
        if cpu is None:
            return None
        now = time.monotonic_ns()
        before = self._last.get(native_id)
        self._last[native_id] = (cpu, now)
        if before is None or now <= before[1]:
            return None
        return min(1.0, max(0.0, (cpu - before[0]) / (now - before[1])))

    def _read(self, native_id: int) -> int | None:
        fd = self._fds.get(native_id)
        if fd is None:
            fd = schedstat.open_for(native_id)
            if fd is None:
                return None
            self._fds[native_id] = fd
        times = schedstat.read(fd)
        return None if times is None else times[0] + times[1]  # on CPU, or waiting for one

    def forget_all_but(self, alive: set[int]) -> None:
        for native_id in [n for n in self._fds if n not in alive]:
            schedstat.close(self._fds.pop(native_id))
            self._last.pop(native_id, None)

    def close(self) -> None:
        self.forget_all_but(set())


def _loop_is_idle(frame: FrameType | None) -> bool:
    module = frame.f_globals.get("__name__") if frame is not None else None
    return frame is None or module in IDLE_LOOP_MODULES


@functools.lru_cache(maxsize=4096)
def _runs_python(code: CodeType, lasti: int) -> bool:
    """Whether a thread whose innermost frame is at ``lasti`` was running Python: a thread that
    waits for the GIL is still found at a Python instruction, where schedstat sees it asleep."""
    raw = code.co_code  # the unspecialised bytecode
    return 0 <= lasti < len(raw) and raw[lasti] not in _CALLING


def _db_checkout(inside: list[FrameType]) -> FrameType | None:
    for frame in inside:
        module = frame.f_globals.get("__name__") or ""
        if module.startswith(DB_POOL_MODULE) and frame.f_code.co_name == DB_CHECKOUT:
            return frame
    return None


def _pool_size(checkout: FrameType) -> str:
    """``5 + 10 overflow`` from the QueuePool being checked out of; "" if it cannot be read."""
    pool = checkout.f_locals.get("self")
    size, overflow = getattr(pool, "_pool", None), getattr(pool, "_max_overflow", None)
    maxsize = getattr(size, "maxsize", None)
    if not isinstance(maxsize, int) or not isinstance(overflow, int):
        return ""
    return f"{maxsize} + {overflow if overflow >= 0 else 'unlimited'} overflow"


class Sampler:
    """The sampling thread; ``seconds()`` is safe from any thread."""

    def __init__(
        self,
        app: AppCode,
        loop_thread: int | None,
        background_threads: set[int],
        hz: int = DEFAULT_HZ,
    ) -> None:
        self.app = app
        self.loop_thread = loop_thread
        self.background_threads = background_threads
        self.hz = max(1, min(MAX_HZ, hz))
        self._seconds: deque[Second] = deque(maxlen=KEEP_SECONDS)
        self._lock = threading.Lock()
        self._watched_until = 0.0
        self._stop = threading.Event()
        self._clock = CpuClock()
        self._shares: dict[int, float] = {}  # thread ident -> its last CPU share
        self._threads: dict[int | None, threading.Thread] = {}  # by ident, renewed as they come
        self._threads_at = 0
        self._sites: dict[tuple[int, int, int], Site] = {}
        self._thread = threading.Thread(target=self._run, name="loadtui-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2.0)

    def seconds(self, after: int | None = None) -> list[dict[str, object]]:
        """The finished seconds kept (those after epoch ``after`` when given); asking counts
        as watching."""
        self._watched_until = time.monotonic() + WATCHED_S
        now = int(time.time())
        first = -1 if after is None else after
        with self._lock:
            return [s.to_dict() for s in self._seconds if first < s.epoch < now]

    # ---- the sampling thread ---------------------------------------------------------------
    def _run(self) -> None:
        try:
            period = 1.0 / self.hz
            while not self._stop.is_set():
                if time.monotonic() > self._watched_until:
                    self._stop.wait(0.25)
                    continue
                started = time.monotonic()
                self._look()
                self._stop.wait(max(0.0, period - (time.monotonic() - started)))
        finally:
            self._clock.close()

    def _second(self) -> Second:
        epoch = int(time.time())
        if not self._seconds or self._seconds[-1].epoch != epoch:
            self._seconds.append(Second(epoch))
        return self._seconds[-1]

    def _look(self) -> None:
        frames = sys._current_frames()
        second = int(time.monotonic())
        if second != self._threads_at or not frames.keys() <= self._threads.keys():
            self._threads = {t.ident: t for t in threading.enumerate()}  # names, once a second
            self._threads_at = second
        threads = self._threads
        with self._lock:  # seconds() may be reading the second this look adds to
            self._look_at_all(threads, frames)
        del frames

    def _look_at_all(self, threads: dict[int | None, threading.Thread], frames: dict) -> None:
        second = self._second()
        second.looks += 1
        cpu_now = second.looks % 10 == 1  # thread CPU times ten times a second
        alive: set[int] = set()
        for ident, frame in frames.items():
            thread = threads.get(ident)
            name = thread.name if thread is not None else ""
            if name.startswith(OWN_THREADS):
                continue
            native_id = thread.native_id if thread is not None else None
            if native_id is not None:
                alive.add(native_id)
            if cpu_now:
                share = self._clock.share(native_id)
                if share is not None:
                    self._shares[ident] = share
            self._look_at(second, ident, name, frame)
        if cpu_now:
            self._clock.forget_all_but(alive)
            for ident in [i for i in self._shares if i not in threads]:
                del self._shares[ident]

    def _look_at(self, second: Second, ident: int, name: str, frame: FrameType) -> None:
        if ident == self.loop_thread:
            group = "loop"
            second.loop_seen += 1
            if _loop_is_idle(frame):
                return
            second.loop_busy += 1
        else:
            group = "pool" if name == POOL_THREAD else "other"
        found = self.app.innermost(frame, in_loop=group == "loop")
        if found is None:
            return
        site = self._site(*found)
        key = (site.function, site.location, site.leaf, ident in self.background_threads)
        holders = second.holders[group]
        holder = holders.get(key)
        if holder is None:
            if len(holders) >= 4 * TOP:  # a flood of distinct functions: keep the first ones
                return
            holder = holders[key] = Holder(
                site.function,
                site.location,
                site.leaf,
                waiting_for=site.waiting_for,
                db_pool=site.db_pool,
                background=key[3],
            )
        holder.samples += 1
        holder.cpu += self._shares.get(ident, 0.0)
        holder.python += _runs_python(frame.f_code, frame.f_lasti)

    def _site(self, own: FrameType, inside: list[FrameType]) -> Site:
        """Where the app's frame is and what it is in, worked out once per place in the code."""
        inner = inside[0].f_code if inside else None
        key = (id(own.f_code), own.f_lineno, id(inner) if inner else own.f_lasti)
        site = self._sites.get(key)
        if site is not None and site.code is own.f_code and site.inner is inner:
            return site
        caller = described(own, inside)
        checkout = _db_checkout(inside)
        site = Site(
            own.f_code,
            inner,
            caller.function,
            caller.location,
            caller.leaf,
            waiting_for="database connection" if checkout is not None else "",
            db_pool=_pool_size(checkout) if checkout is not None else "",
        )
        if len(self._sites) >= MAX_SITES:
            self._sites.clear()
        self._sites[key] = site
        return site
