"""The seed's seven route variants, and their remedy twins, as one table of data: what
``loadtui routes`` lists and what every command names a demo route by. The handlers and work
functions that serve them live in :mod:`loadtui.server.routes`; this table imports no web
framework, so commands that only name routes stay light.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Handler = Literal["def", "async"]
Inner = Literal["none", "sync", "async", "threadpool"]


@dataclass(frozen=True)
class Variant:
    """One route: how its handler is written, what it calls, what it leaves behind."""

    key: str  # "1".."7" for the seed's rows, "4r" etc. for remedy twins, "0" for the baseline
    path: str
    handler: Handler
    inner: Inner
    background: str | None  # the name of its background task in routes.py
    lesson: str

    @property
    def background_name(self) -> str:
        return self.background or "none"

    @property
    def pattern(self) -> str:
        handler = "def" if self.handler == "def" else "async def"
        return f"{handler} / {self.inner} inner / {self.background_name}"


VARIANTS: tuple[Variant, ...] = (
    Variant(
        "0",
        "/ping",
        "async",
        "none",
        None,
        "Baseline: no work at all; measures the server and the generator themselves.",
    ),
    Variant(
        "1",
        "/sync-route-sync-inner-async-bg-sync-task",
        "def",
        "sync",
        "sync_background_task",
        "10 s sync background tasks take the 40 pool threads the def handler needs: "
        "requests queue for seconds (the path says async-bg, the seed runs a sync task).",
    ),
    Variant(
        "2",
        "/sync-route-sync-inner-async-bg-async-task",
        "def",
        "sync",
        "async_background_task_wrapping_async",
        "A def handler is fine: it sleeps in a pool thread and the async task only waits.",
    ),
    Variant(
        "3",
        "/sync-route-sync-inner-sync-bg-sync-task",
        "def",
        "sync",
        "sync_background_task",
        "Handlers and 10 s sync background tasks share one 40-thread pool: it starves.",
    ),
    Variant(
        "4",
        "/async-route-sync-inner-async-bg-async-task",
        "async",
        "sync",
        "async_background_task_wrapping_async",
        "A blocking call inside async def stops the event loop: ~5 req/s for everyone.",
    ),
    Variant(
        "5",
        "/async-route-async-inner-async-bg-async-task",
        "async",
        "async",
        "async_background_task_wrapping_async",
        "Async all the way: ~184 req/s at 100 users, the loop is never blocked.",
    ),
    Variant(
        "6",
        "/async-route-async-inner-async-bg-sync-task",
        "async",
        "async",
        "async_background_task_wrapping_sync",
        "An async background task that calls time.sleep blocks the loop for 10 s each time.",
    ),
    Variant(
        "7",
        "/async-route-async-inner-sync-bg-sync-task",
        "async",
        "async",
        "sync_background_task",
        "Fast responses hide a backlog: thousands of 10 s sync tasks queue on 40 threads.",
    ),
    Variant(
        "1r",
        "/sync-route-sync-inner-executor-bg-sync-task",
        "def",
        "sync",
        "async_background_task_on_executor",
        "Remedy for 1: slow work goes to its own executor, the request pool stays free.",
    ),
    Variant(
        "4r",
        "/async-route-threadpool-inner-async-bg-async-task",
        "async",
        "threadpool",
        "async_background_task_wrapping_async",
        "Remedy for 4: the blocking call runs via run_in_threadpool, the loop keeps going.",
    ),
    Variant(
        "6r",
        "/async-route-async-inner-async-bg-threadpool-task",
        "async",
        "async",
        "async_background_task_offloading_sync",
        "Remedy for 6: the blocking sleep moves to a pool thread; the loop stays free.",
    ),
)

SEED_KEYS: tuple[str, ...] = ("1", "2", "3", "4", "5", "6", "7")


def find_variant(name: str) -> Variant | None:
    """A variant by key ("5", "4r") or by path, with or without the leading slash."""
    path = name if name.startswith("/") else "/" + name
    for variant in VARIANTS:
        if name == variant.key or path == variant.path:
            return variant
    return None
