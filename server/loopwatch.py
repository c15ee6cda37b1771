"""Event-loop heartbeat and stall watchdog.

A heartbeat task stamps the loop's last tick every ``tick_interval`` seconds. A watchdog thread,
outside the loop, notices when that stamp grows old: it records a stall, captures the loop
thread's stack and names the culprit (the innermost frame of the application's own code).
When the loop ticks again the stall gets its duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import CodeType, FrameType

from . import schedstat
from .appframes import AppCode, described, stack_of
from .framepaths import shown_file

LOOP_INTERNALS = "event loop internals (no application frame)"
# Thread.start() waits for the new thread to run: long only when the OS has no core for it (a
# thread pool growing on a busy machine), so the loop was starved, not blocked by the app
THREAD_STARTING = "event loop internals (waiting for a new thread to start)"


@dataclass
class Stall:
    started_mono: float
    started_epoch: float
    culprit: str
    location: str
    stack: list[str]
    leaf: str = ""  # the library call the culprit was in
    duration_s: float | None = None  # None while the loop is still blocked
    # of it, the share the loop's thread was runnable but waiting for a CPU (a busy machine,
    # not the code); None where it cannot be read
    runqueue_share: float | None = None

    def to_dict(self, now_mono: float) -> dict[str, object]:
        ongoing = self.duration_s is None
        duration = (now_mono - self.started_mono) if ongoing else self.duration_s
        return {
            "started_at": datetime.fromtimestamp(self.started_epoch, UTC).isoformat(),
            "started_at_epoch": self.started_epoch,
            "duration_s": round(duration or 0.0, 4),
            "ongoing": ongoing,
            "culprit": self.culprit,
            "location": self.location,
            "leaf": self.leaf,
            "stack": self.stack,
            "runqueue_share": self.runqueue_share,
        }


@dataclass(frozen=True)
class Blame:
    culprit: str
    location: str  # "file:line", or "" when no application frame ran
    leaf: str  # what the culprit was in: "psycopg Connection.wait", "time.sleep"
    stack: list[str]  # outermost first


def _is_thread_start(frame: FrameType) -> bool:
    return (
        frame.f_globals.get("__name__") == "threading"
        and frame.f_code.co_qualname == "Thread.start"
    )


def _describe(frame: FrameType) -> str:
    return f"{shown_file(frame)}:{frame.f_lineno} in {frame.f_code.co_qualname}"


def find_culprit(frame: FrameType | None, app: AppCode) -> Blame:
    """Who blocked the loop, from the loop thread's frame: the innermost frame of the
    application's own code (:mod:`loadtui.server.appframes`) that the loop is running now.
    Frames outside the loop's run call (the program that started the loop) never count.
    Application code waiting inside ``Thread.start()`` is not to blame: see THREAD_STARTING.
    """
    stack = [_describe(f) for f in reversed(stack_of(frame))]
    found = app.innermost(frame, in_loop=True)
    if found is None:
        return Blame(LOOP_INTERNALS, "", "", stack)
    own, inside = found
    caller = described(own, inside)
    if any(_is_thread_start(f) for f in inside):
        return Blame(THREAD_STARTING, caller.location, "", stack)
    return Blame(caller.function, caller.location, caller.leaf, stack)


class GcWatch:
    """Times the cyclic garbage collector's passes on the loop thread: each one blocks the loop.

    The watchdog cannot look while a pass runs (the collector holds the GIL), so stalls are
    matched with the recorded passes once they end.
    """

    def __init__(self) -> None:
        self.loop_thread: int | None = None
        self.pauses: deque[tuple[float, float, int]] = deque(maxlen=64)
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if threading.get_ident() != self.loop_thread:
            return
        if phase == "start":
            self._started = time.monotonic()
        else:
            self.pauses.append((self._started, time.monotonic(), info["generation"]))

    def install(self, loop_thread: int) -> None:
        self.loop_thread = loop_thread
        if self not in gc.callbacks:
            gc.callbacks.append(self)

    def remove(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self)

    def explains(self, start: float, end: float) -> int | None:
        """The generation, if collector passes fill most of [start, end]."""
        inside = [(max(a, start), min(b, end), g) for a, b, g in list(self.pauses)]
        inside = [(a, b, g) for a, b, g in inside if b > a]
        covered = sum(b - a for a, b, _ in inside)
        if inside and covered >= 0.5 * (end - start):
            return max(g for _, _, g in inside)
        return None


@dataclass
class LoopWatch:
    """Heartbeat (inside the loop) plus watchdog (a thread outside it)."""

    threshold_s: float = 0.1
    tick_interval_s: float = 0.02
    max_stalls: int = 256
    # Called when a stall ends, with the code objects that were on the blocked stack (none
    # when the garbage collector was to blame).
    on_stall: Callable[[Stall, list[CodeType]], None] | None = None
    # Called from the watchdog thread as a stall begins and again as it ends (the sidecar's
    # long poll answers with it at once).
    on_news: Callable[[Stall], None] | None = None
    app: AppCode = field(default_factory=AppCode)  # whose frames are the application's

    last_tick: float = field(default_factory=time.monotonic)
    stalls_total: int = 0
    stall_seconds_total: float = 0.0
    _stalls: deque[Stall] = field(default_factory=deque)
    _current: Stall | None = None
    _lag_max: float = 0.0
    _lag_prev_max: float = 0.0
    _lag_window_start: float = field(default_factory=time.monotonic)
    _loop_thread: int | None = None
    _task: asyncio.Task[None] | None = None
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _gc: GcWatch = field(default_factory=GcWatch)
    _current_codes: list[CodeType] = field(default_factory=list)
    _runqueue: schedstat.RunQueueWatch | None = None

    # ---- inside the loop -------------------------------------------------------------
    def start(self) -> None:
        """Call from inside the running loop."""
        self._loop_thread = threading.get_ident()
        self._runqueue = schedstat.RunQueueWatch(threading.get_native_id())
        self._gc.install(self._loop_thread)
        self.last_tick = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._heartbeat())
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="loadtui-watchdog", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        self._gc.remove()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _heartbeat(self) -> None:
        interval = self.tick_interval_s
        while True:
            before = time.monotonic()
            await asyncio.sleep(interval)
            now = time.monotonic()
            self._note_lag(max(0.0, now - before - interval), now)
            self.last_tick = now

    def _note_lag(self, lag: float, now: float) -> None:
        if now - self._lag_window_start >= 1.0:
            self._lag_prev_max, self._lag_max = self._lag_max, 0.0
            self._lag_window_start = now
        self._lag_max = max(self._lag_max, lag)

    # ---- readable from any thread ----------------------------------------------------
    def tick_age(self) -> float:
        return max(0.0, time.monotonic() - self.last_tick)

    def lag(self) -> float:
        """Worst heartbeat lag over roughly the last second."""
        return max(self._lag_max, self._lag_prev_max)

    def stalls(self) -> list[dict[str, object]]:
        now = time.monotonic()
        with self._lock:
            return [stall.to_dict(now) for stall in self._stalls]

    # ---- the watchdog thread ---------------------------------------------------------
    def _watch(self) -> None:
        runqueue = self._runqueue  # this thread's: closed when it ends
        try:
            self._watch_until_stopped()
        finally:
            if runqueue is not None:
                runqueue.close()

    def _watch_until_stopped(self) -> None:
        # While the loop is healthy, sleep until the moment the last tick would become a
        # stall: ~10 wakeups a second instead of one per tick. During a stall, poll per tick.
        while not self._stop.is_set():
            last = self.last_tick
            now = time.monotonic()
            if self._current is None:
                if now - last > self.threshold_s:
                    self._begin(last)
                else:
                    time.sleep(last + self.threshold_s - now + 0.002)
            elif last > self._current.started_mono:
                self._end(last)
            else:
                time.sleep(self.tick_interval_s)

    def _begin(self, last_tick: float) -> None:
        if self._runqueue is not None:
            self._runqueue.mark()
        frame = sys._current_frames().get(self._loop_thread or 0)
        blame = find_culprit(frame, self.app)
        codes = _codes_of(frame)
        del frame
        started_epoch = time.time() - (time.monotonic() - last_tick)
        stall = Stall(
            last_tick, started_epoch, blame.culprit, blame.location, blame.stack, blame.leaf
        )
        with self._lock:
            self._current = stall
            self._stalls.append(stall)
            while len(self._stalls) > self.max_stalls:
                self._stalls.popleft()
            self.stalls_total += 1
        self._current_codes = codes
        self._tell(stall)

    def _end(self, resumed_tick: float) -> None:
        stall = self._current
        assert stall is not None
        # The resuming tick lands up to one tick interval after the loop came free.
        duration = max(0.0, resumed_tick - stall.started_mono - self.tick_interval_s / 2)
        generation = self._gc.explains(stall.started_mono, resumed_tick)
        runqueue = self._runqueue.share_since_mark() if self._runqueue is not None else None
        with self._lock:
            stall.runqueue_share = None if runqueue is None else round(runqueue, 3)
            if generation is not None:  # the collector, not the code it interrupted
                stall.culprit = f"gc.collect (generation {generation})"
                stall.location = "garbage collector"
                stall.leaf = ""
                self._current_codes = []
            stall.duration_s = duration
            self.stall_seconds_total += duration
            self._current = None
        self._tell(stall)
        if self.on_stall is not None:
            self.on_stall(stall, self._current_codes)

    def _tell(self, stall: Stall) -> None:
        if self.on_news is not None:
            self.on_news(stall)


def _codes_of(frame: FrameType | None) -> list[CodeType]:
    codes = []
    while frame is not None:
        codes.append(frame.f_code)
        frame = frame.f_back
    return codes
