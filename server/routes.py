"""The seed's seven route variants, and their remedy twins, as one table of data.

Each variant is a handler style (``def`` or ``async def``), an inner call made while the
request is being handled, and a background task scheduled with FastAPI's ``BackgroundTasks``.
The work functions keep the seed's names, because the stall watchdog reports them as culprits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import BackgroundTasks, FastAPI
from starlette.concurrency import run_in_threadpool

from .background import mark_blocking

INNER_SECONDS = 0.2
BACKGROUND_SECONDS = 10.0

# A pool of its own for the "executor" remedy, so that slow background work never takes the
# AnyIO thread pool's 40 tokens away from request handlers.
_BACKGROUND_EXECUTOR = ThreadPoolExecutor(max_workers=40, thread_name_prefix="bg-executor")


def sync_inner_function() -> None:
    time.sleep(INNER_SECONDS)


async def async_inner_function() -> None:
    await asyncio.sleep(INNER_SECONDS)


async def threadpool_inner_function() -> None:
    await run_in_threadpool(sync_inner_function)


def sync_background_task() -> None:
    time.sleep(BACKGROUND_SECONDS)


async def async_background_task_wrapping_async() -> None:
    await asyncio.sleep(BACKGROUND_SECONDS)


@mark_blocking
async def async_background_task_wrapping_sync() -> None:
    time.sleep(BACKGROUND_SECONDS)  # deliberately blocks the event loop


async def async_background_task_offloading_sync() -> None:
    await run_in_threadpool(time.sleep, BACKGROUND_SECONDS)


async def async_background_task_on_executor() -> None:
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(_BACKGROUND_EXECUTOR, time.sleep, BACKGROUND_SECONDS)


Handler = Literal["def", "async"]
Inner = Literal["none", "sync", "async", "threadpool"]


@dataclass(frozen=True)
class Variant:
    """One route: how its handler is written, what it calls, what it leaves behind."""

    key: str  # "1".."7" for the seed's rows, "4r" etc. for remedy twins, "0" for the baseline
    path: str
    handler: Handler
    inner: Inner
    background: Callable[[], Any] | None
    lesson: str

    @property
    def background_name(self) -> str:
        return self.background.__name__ if self.background else "none"

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
        sync_background_task,
        "10 s sync background tasks take the 40 pool threads the def handler needs: "
        "requests queue for seconds (the path says async-bg, the seed runs a sync task).",
    ),
    Variant(
        "2",
        "/sync-route-sync-inner-async-bg-async-task",
        "def",
        "sync",
        async_background_task_wrapping_async,
        "A def handler is fine: it sleeps in a pool thread and the async task only waits.",
    ),
    Variant(
        "3",
        "/sync-route-sync-inner-sync-bg-sync-task",
        "def",
        "sync",
        sync_background_task,
        "Handlers and 10 s sync background tasks share one 40-thread pool: it starves.",
    ),
    Variant(
        "4",
        "/async-route-sync-inner-async-bg-async-task",
        "async",
        "sync",
        async_background_task_wrapping_async,
        "A blocking call inside async def stops the event loop: ~5 req/s for everyone.",
    ),
    Variant(
        "5",
        "/async-route-async-inner-async-bg-async-task",
        "async",
        "async",
        async_background_task_wrapping_async,
        "Async all the way: ~184 req/s at 100 users, the loop is never blocked.",
    ),
    Variant(
        "6",
        "/async-route-async-inner-async-bg-sync-task",
        "async",
        "async",
        async_background_task_wrapping_sync,
        "An async background task that calls time.sleep blocks the loop for 10 s each time.",
    ),
    Variant(
        "7",
        "/async-route-async-inner-sync-bg-sync-task",
        "async",
        "async",
        sync_background_task,
        "Fast responses hide a backlog: thousands of 10 s sync tasks queue on 40 threads.",
    ),
    Variant(
        "1r",
        "/sync-route-sync-inner-executor-bg-sync-task",
        "def",
        "sync",
        async_background_task_on_executor,
        "Remedy for 1: slow work goes to its own executor, the request pool stays free.",
    ),
    Variant(
        "4r",
        "/async-route-threadpool-inner-async-bg-async-task",
        "async",
        "threadpool",
        async_background_task_wrapping_async,
        "Remedy for 4: the blocking call runs via run_in_threadpool, the loop keeps going.",
    ),
    Variant(
        "6r",
        "/async-route-async-inner-async-bg-threadpool-task",
        "async",
        "async",
        async_background_task_offloading_sync,
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


def _make_handler(variant: Variant) -> Callable[..., Any]:
    body = {"route": variant.path}
    background = variant.background

    def schedule(tasks: BackgroundTasks) -> None:
        if background is not None:
            tasks.add_task(background)

    if variant.handler == "def":

        def sync_route(background_tasks: BackgroundTasks) -> dict[str, str]:
            if variant.inner == "sync":
                sync_inner_function()
            schedule(background_tasks)
            return body

        return sync_route

    inner: Callable[[], Awaitable[None] | None] | None = {
        "none": None,
        "sync": sync_inner_function,  # called without await: blocks the loop, as in the seed
        "async": async_inner_function,
        "threadpool": threadpool_inner_function,
    }[variant.inner]

    async def async_route(background_tasks: BackgroundTasks) -> dict[str, str]:
        if inner is not None:
            result = inner()
            if result is not None:
                await result
        schedule(background_tasks)
        return body

    return async_route


def add_variant_routes(app: FastAPI) -> None:
    for variant in VARIANTS:
        app.add_api_route(
            variant.path,
            _make_handler(variant),
            methods=["GET"],
            # No response model (the seed has none): with one, FastAPI validates a def
            # handler's return value in the thread pool, a second trip through a pool that
            # route 1's background tasks keep full (149 requests in the seed's load, not 190).
            response_model=None,
            name=f"variant_{variant.key}",
            summary=variant.lesson,
        )
