"""The demo's routes: one handler per variant of :mod:`loadtui.server.variants`.

Each variant is a handler style (``def`` or ``async def``), an inner call made while the
request is being handled, and a background task scheduled with FastAPI's ``BackgroundTasks``.
The work functions keep the seed's names, because the stall watchdog reports them as culprits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import BackgroundTasks, FastAPI
from starlette.concurrency import run_in_threadpool

from .background import mark_blocking
from .variants import VARIANTS, Variant

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


BACKGROUND_TASKS: dict[str, Callable[[], Any]] = {
    task.__name__: task
    for task in (
        sync_background_task,
        async_background_task_wrapping_async,
        async_background_task_wrapping_sync,
        async_background_task_on_executor,
        async_background_task_offloading_sync,
    )
}


def _make_handler(variant: Variant) -> Callable[..., Any]:
    body = {"route": variant.path}
    background = BACKGROUND_TASKS[variant.background] if variant.background else None

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
