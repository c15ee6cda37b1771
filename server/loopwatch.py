"""Event-loop heartbeat and stall watchdog.

A heartbeat task stamps the loop's last tick every ``tick_interval`` seconds. A watchdog thread,
outside the loop, notices when that stamp grows old: it records a stall, captures the loop
thread's stack and names the culprit (the innermost frame of the application's own code).
When the loop ticks again the stall gets its duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import CodeType, FrameType

# Frames from these top-level packages are plumbing, never the culprit.
FRAMEWORK_PACKAGES = frozenset(
    {
        "uvicorn",
        "starlette",
        "fastapi",
        "anyio",
        "uvloop",
        "h11",
        "httptools",
        "sniffio",
        "pydantic",
    }
)
INSTRUMENTATION_MODULES = frozenset({"server.loopwatch", "server.background", "server.instrument"})
MAX_STACK_FRAMES = 40


@dataclass
class Stall:
    started_mono: float
    started_epoch: float
    culprit: str
    location: str
    stack: list[str]
    duration_s: float | None = None  # None while the loop is still blocked

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
            "stack": self.stack,
        }


def _is_plumbing(frame: FrameType) -> bool:
    module = frame.f_globals.get("__name__", "") or ""
    top = module.partition(".")[0]
    return (
        top in sys.stdlib_module_names
        or top in FRAMEWORK_PACKAGES
        or module in INSTRUMENTATION_MODULES
    )


def _describe(frame: FrameType) -> str:
    code = frame.f_code
    return f"{code.co_filename}:{frame.f_lineno} in {code.co_qualname}"


def find_culprit(frame: FrameType | None) -> tuple[str, str, list[str]]:
    """(culprit qualname, "file:line", stack outermost-first) for a loop thread's frame."""
    frames: list[FrameType] = []
    while frame is not None and len(frames) < MAX_STACK_FRAMES:
        frames.append(frame)
        frame = frame.f_back
    if not frames:
        return "unknown", "", []
    own = next((f for f in frames if not _is_plumbing(f)), frames[0])
    location = f"{own.f_code.co_filename}:{own.f_lineno}"
    return own.f_code.co_qualname, location, [_describe(f) for f in reversed(frames)]


@dataclass
class LoopWatch:
    """Heartbeat (inside the loop) plus watchdog (a thread outside it)."""

    threshold_s: float = 0.1
    tick_interval_s: float = 0.02
    max_stalls: int = 256
    on_stall: Callable[[Stall, list[CodeType]], None] | None = None

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

    # ---- inside the loop -------------------------------------------------------------
    def start(self) -> None:
        """Call from inside the running loop."""
        self._loop_thread = threading.get_ident()
        self.last_tick = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._heartbeat())
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="loadtui-watchdog", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
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

    def stalled(self) -> bool:
        return self._current is not None

    def stalls(self) -> list[dict[str, object]]:
        now = time.monotonic()
        with self._lock:
            return [stall.to_dict(now) for stall in self._stalls]

    # ---- the watchdog thread ---------------------------------------------------------
    def _watch(self) -> None:
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
        frame = sys._current_frames().get(self._loop_thread or 0)
        culprit, location, stack = find_culprit(frame)
        codes = _codes_of(frame)
        del frame
        started_epoch = time.time() - (time.monotonic() - last_tick)
        stall = Stall(last_tick, started_epoch, culprit, location, stack)
        with self._lock:
            self._current = stall
            self._stalls.append(stall)
            while len(self._stalls) > self.max_stalls:
                self._stalls.popleft()
            self.stalls_total += 1
        if self.on_stall is not None:
            self.on_stall(stall, codes)

    def _end(self, resumed_tick: float) -> None:
        stall = self._current
        assert stall is not None
        # The resuming tick lands up to one tick interval after the loop came free.
        duration = max(0.0, resumed_tick - stall.started_mono - self.tick_interval_s / 2)
        with self._lock:
            stall.duration_s = duration
            self.stall_seconds_total += duration
            self._current = None


def _codes_of(frame: FrameType | None) -> list[CodeType]:
    codes = []
    while frame is not None:
        codes.append(frame.f_code)
        frame = frame.f_back
    return codes
