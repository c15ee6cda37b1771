"""A thread's scheduler times from ``/proc/self/task/TID/schedstat`` (Linux), read on a descriptor
kept open (about 1 µs a read): nanoseconds on a CPU, and nanoseconds runnable but waiting in a
run queue for one (a busy machine's share of a thread's time). None wherever it cannot be read."""

from __future__ import annotations

import contextlib
import os
import time


def open_for(native_id: int) -> int | None:
    try:
        return os.open(f"/proc/self/task/{native_id}/schedstat", os.O_RDONLY)
    except OSError:
        return None


def read(fd: int) -> tuple[int, int] | None:
    """(ns on CPU, ns waiting for a CPU) since the thread began."""
    try:
        fields = os.pread(fd, 96, 0).split()
        return int(fields[0]), int(fields[1])
    except (OSError, ValueError, IndexError):
        return None


def close(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


class RunQueueWatch:
    """How much of a span of time one thread spent waiting for a CPU: opened on the thread,
    marked at the span's start, asked at its end."""

    def __init__(self, native_id: int) -> None:
        self._fd = open_for(native_id)
        self._mark: tuple[int, int] | None = None  # (waiting ns, monotonic ns)

    def mark(self) -> None:
        times = read(self._fd) if self._fd is not None else None
        self._mark = (times[1], time.monotonic_ns()) if times else None

    def share_since_mark(self) -> float | None:
        """The share of the time since :meth:`mark` the thread waited for a CPU."""
        times = read(self._fd) if self._fd is not None else None
        if times is None or self._mark is None:
            return None
        waited, began = times[1] - self._mark[0], self._mark[1]
        elapsed = time.monotonic_ns() - began
        return min(1.0, max(0.0, waited / elapsed)) if elapsed > 0 else None

    def close(self) -> None:
        close(self._fd)
        self._fd = None
