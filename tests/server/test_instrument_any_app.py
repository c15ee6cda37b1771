"""loadtui.server.instrumentation on an app that is not the demo: a tiny Starlette app of the
tests' own."""

from __future__ import annotations

import threading
import time

import pytest
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse
from starlette.routing import Route

from loadtui.server import instrument
from tests.helpers import concurrent_gets, get, metrics, sample, serve_in_thread, stalls, wait_for

pytestmark = pytest.mark.e2e


def tiny_blocking_helper() -> None:
    time.sleep(0.3)


release = threading.Event()  # the sync tasks of /tasks hold their threads until it is set


def slow_sync_task() -> None:
    release.wait(30)


async def sneaky_async_task() -> None:
    time.sleep(0.3)  # an async task that blocks, and nobody marked it


async def greedy(_request):
    tiny_blocking_helper()
    return JSONResponse({"ok": True})


async def sync_tasks(_request):
    return JSONResponse({"ok": True}, background=BackgroundTask(slow_sync_task))


async def sneaky(_request):
    return JSONResponse({"ok": True}, background=BackgroundTask(sneaky_async_task))


def build_app():
    routes = [Route("/greedy", greedy), Route("/tasks", sync_tasks), Route("/sneaky", sneaky)]
    app = Starlette(routes=routes)
    return app, instrument(app, threads=2)


def test_stalls_name_the_apps_own_function():
    app, ins = build_app()
    with serve_in_thread(app) as url:
        assert get(url + "/heartbeat").json()["ok"] is True
        sidecar = f"http://127.0.0.1:{ins.sidecar.port}"
        assert get(url + "/greedy").status_code == 200
        found = wait_for(lambda: [s for s in stalls(sidecar) if not s["ongoing"]], timeout=3)
        assert found[-1]["culprit"] == "tiny_blocking_helper"
        sleep_line = tiny_blocking_helper.__code__.co_firstlineno + 1
        assert found[-1]["location"] == f"tests/server/test_instrument_any_app.py:{sleep_line}"
        assert not [line for line in found[-1]["stack"] if line.startswith("/")]
        assert 0.25 <= found[-1]["duration_s"] <= 1.0  # 0.3 s asleep, on a busy machine


def test_pool_and_background_accounting_on_a_small_pool():
    app, ins = build_app()
    release.clear()
    with serve_in_thread(app) as url:
        sidecar = f"http://127.0.0.1:{ins.sidecar.port}"
        try:
            responses = concurrent_gets(url + "/tasks", 5)
            assert all(r.status_code == 200 for r in responses)

            def all_begun() -> bool:  # each task begins once its response is sent
                return sample(metrics(sidecar), "loadtui_threadpool_waiting") == 3

            assert wait_for(all_begun, timeout=10)
            values = metrics(sidecar)
            assert sample(values, "loadtui_threadpool_capacity") == 2
            assert sample(values, "loadtui_threadpool_busy") == 2
            assert sample(values, "loadtui_background_tasks_pending", kind="sync") == 5
            assert sample(values, "loadtui_background_tasks_running", kind="sync") == 2
        finally:
            release.set()

        def all_done() -> bool:
            return (
                sample(metrics(url), "loadtui_background_tasks_completed_total", kind="sync") == 5
            )

        assert wait_for(all_done, timeout=20)
        assert sample(metrics(url), "loadtui_background_tasks_pending", kind="sync") == 0


def test_an_unmarked_blocking_async_task_is_learned_from_its_stall():
    app, ins = build_app()
    with serve_in_thread(app) as url:
        sidecar = f"http://127.0.0.1:{ins.sidecar.port}"
        get(url + "/sneaky")
        found = wait_for(lambda: [s for s in stalls(sidecar) if not s["ongoing"]], timeout=3)
        assert found[-1]["culprit"] == "sneaky_async_task"
        get(url + "/sneaky")

        def completed(kind: str) -> float:
            return sample(metrics(sidecar), "loadtui_background_tasks_completed_total", kind=kind)

        # the first run counts as async; the second, after its stall taught us, as async_blocking
        assert wait_for(lambda: completed("async_blocking") == 1, timeout=5)
        assert completed("async") == 1
