"""Accounting for Starlette/FastAPI background tasks: pending, running, completed, by kind.

``pending`` counts tasks scheduled and not yet finished (the running ones included), so that
pending x task time / pool size estimates how long the backlog needs to drain.

Starlette builds every background task through ``starlette.background.BackgroundTask``; one
patch of its constructor (installed once per process) wraps each task's function so that it
reports when it starts and ends. Tasks are counted by the instrumented app whose request
created them (found through a context variable the instrumentation middleware sets).

Kinds: ``sync`` (a plain function, run in the AnyIO thread pool), ``async`` (a coroutine
function, run on the event loop) and ``async_blocking`` (a coroutine function known to block
the loop: marked with :func:`mark_blocking`, or caught by the stall watchdog).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from contextvars import ContextVar
from types import CodeType
from typing import Any, TypeVar

from starlette.background import BackgroundTask

KINDS = ("sync", "async", "async_blocking")

F = TypeVar("F", bound=Callable[..., Any])

_blocking_codes: set[CodeType] = set()
_async_task_codes: set[CodeType] = set()
current_accounting: ContextVar[BackgroundAccounting | None] = ContextVar(
    "loadtui_background_accounting", default=None
)


def mark_blocking(func: F) -> F:
    """Declare an ``async def`` background task as one that blocks the event loop."""
    _blocking_codes.add(func.__code__)
    return func


def learn_blocking(stack_codes: list[CodeType]) -> None:
    """Called on a stall: any async background task on the blocked stack is blocking."""
    for code in stack_codes:
        if code in _async_task_codes:
            _blocking_codes.add(code)


def _code_of(func: Callable[..., Any]) -> CodeType | None:
    while isinstance(func, functools.partial):
        func = func.func
    return getattr(func, "__code__", None)


class BackgroundAccounting:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.pending = dict.fromkeys(KINDS, 0)
        self.running = dict.fromkeys(KINDS, 0)
        self.completed = dict.fromkeys(KINDS, 0)
        self.threads: set[int] = set()  # running a sync background task now

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {
                "pending": dict(self.pending),
                "running": dict(self.running),
                "completed": dict(self.completed),
            }

    def _scheduled(self, kind: str) -> None:
        with self._lock:
            self.pending[kind] += 1

    def _started(self, kind: str) -> None:
        with self._lock:
            self.running[kind] += 1

    def _finished(self, kind: str) -> None:
        with self._lock:
            self.pending[kind] -= 1
            self.running[kind] -= 1
            self.completed[kind] += 1

    def track(self, task: BackgroundTask) -> None:
        func = task.func
        code = _code_of(func)
        if task.is_async:
            if code is not None:
                _async_task_codes.add(code)
            kind = "async_blocking" if code in _blocking_codes else "async"
        else:
            kind = "sync"
        self._scheduled(kind)
        task.func = self._wrap_async(func, kind) if task.is_async else self._wrap_sync(func, kind)

    def _wrap_sync(self, func: Callable[..., Any], kind: str) -> Callable[..., Any]:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            ident = threading.get_ident()
            self._started(kind)
            self.threads.add(ident)
            try:
                return func(*args, **kwargs)
            finally:
                self.threads.discard(ident)
                self._finished(kind)

        return run

    def _wrap_async(self, func: Callable[..., Any], kind: str) -> Callable[..., Any]:
        @functools.wraps(func)
        async def run(*args: Any, **kwargs: Any) -> Any:
            self._started(kind)
            try:
                return await func(*args, **kwargs)
            finally:
                self._finished(kind)

        return run


_patch_lock = threading.Lock()
_patched = False


def install_patch() -> None:
    """Make every BackgroundTask created inside an instrumented request count itself."""
    global _patched
    with _patch_lock:
        if _patched:
            return
        original_init = BackgroundTask.__init__

        @functools.wraps(original_init)
        def __init__(self: BackgroundTask, func: Callable[..., Any], *args: Any, **kw: Any) -> None:
            original_init(self, func, *args, **kw)
            accounting = current_accounting.get()
            if accounting is not None:
                accounting.track(self)

        BackgroundTask.__init__ = __init__  # type: ignore[method-assign]
        _patched = True
