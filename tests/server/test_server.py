"""loadtui.server (the demo app: routes, metrics, sidecar, loopwatch) against real uvicorn
processes on loopback."""

from __future__ import annotations

import time

import httpx
import pytest

from loadtui.server.variants import VARIANTS
from tests.helpers import concurrent_gets, get, metrics, sample, stalls, wait_for

pytestmark = pytest.mark.e2e

ROW = {v.key: v for v in VARIANTS}
INNER_WORK = [v for v in VARIANTS if v.inner != "none" and v.key != "6"]


def test_every_route_answers_200_and_inner_work_takes_about_200ms(demo_server):
    for variant in [v for v in VARIANTS if v.key != "6"]:  # row 6 blocks the loop for 10 s
        started = time.monotonic()
        response = get(demo_server.url + variant.path)
        elapsed = time.monotonic() - started
        assert response.status_code == 200, variant.path
        assert response.json() == {"route": variant.path}
        if variant in INNER_WORK:
            assert 0.18 <= elapsed < 1.0, (variant.path, elapsed)
        else:
            assert elapsed < 0.5, (variant.path, elapsed)


def test_row6_blocks_the_loop_but_the_sidecar_still_answers(demo_server):
    url, sidecar = demo_server.url, demo_server.metrics_url
    assert get(url + ROW["6"].path).status_code == 200
    time.sleep(0.3)  # the 10 s background task has started and holds the loop
    with pytest.raises(httpx.TimeoutException):
        httpx.get(url + "/heartbeat", timeout=1.0)

    ages = []
    for _ in range(2):
        started = time.monotonic()
        values = metrics(sidecar, timeout=0.5)
        assert time.monotonic() - started < 0.5
        ages.append(sample(values, "loadtui_event_loop_tick_age_seconds"))
        time.sleep(0.3)
    assert ages[1] > ages[0] > 0.5
    ongoing = stalls(sidecar)
    assert ongoing[-1]["ongoing"] is True
    assert ongoing[-1]["culprit"] == "async_background_task_wrapping_sync"

    finished = wait_for(lambda: [s for s in stalls(sidecar) if not s["ongoing"]], timeout=15)
    stall = finished[-1]
    assert stall["culprit"] == "async_background_task_wrapping_sync"
    assert 9.5 <= stall["duration_s"] <= 10.5
    assert any("async_background_task_wrapping_sync" in line for line in stall["stack"])
    assert get(url + "/heartbeat").json()["ok"] is True
    values = metrics(sidecar)
    assert sample(values, "loadtui_event_loop_stalls_total") >= 1
    assert sample(values, "loadtui_event_loop_stall_seconds_total") >= 9.5
    assert sample(values, "loadtui_background_tasks_completed_total", kind="async_blocking") == 1


def _own_code_stalls(sidecar: str) -> list[dict]:
    return [s for s in stalls(sidecar) if "server/routes.py" in s["location"]]


def test_row4_stalls_name_the_blocking_call_and_its_remedy_has_none(spawn_server):
    blocking, remedy = spawn_server(), spawn_server()
    for server, variant in ((blocking, ROW["4"]), (remedy, ROW["4r"])):
        responses = concurrent_gets(server.url + variant.path, 10)
        assert [r.status_code for r in responses] == [200] * 10
    culprits = {s["culprit"] for s in _own_code_stalls(blocking.metrics_url)}
    assert culprits == {"sync_inner_function"}
    assert _own_code_stalls(remedy.metrics_url) == []


def test_row7_fills_the_thread_pool_and_queues_background_tasks(demo_server):
    started = time.monotonic()
    responses = concurrent_gets(demo_server.url + ROW["7"].path, 100)
    assert [r.status_code for r in responses] == [200] * 100
    assert time.monotonic() - started < 5  # answers stay fast; the backlog is hidden
    values = metrics(demo_server.metrics_url)
    assert sample(values, "loadtui_threadpool_capacity") == 40
    assert sample(values, "loadtui_threadpool_busy") == 40
    assert sample(values, "loadtui_threadpool_waiting") > 0
    completed = sample(values, "loadtui_background_tasks_completed_total", kind="sync")
    pending = sample(values, "loadtui_background_tasks_pending", kind="sync")
    assert pending == 100 - completed
    assert sample(values, "loadtui_background_tasks_running", kind="sync") == 40
    assert sample(values, "loadtui_requests_in_flight") == 0


def test_threads_option_resizes_the_pool(spawn_server):
    server = spawn_server(threads=5)
    concurrent_gets(server.url + ROW["7"].path, 8)  # async handlers: answers do not wait
    values = metrics(server.metrics_url)
    assert sample(values, "loadtui_threadpool_capacity") == 5
    assert sample(values, "loadtui_threadpool_busy") == 5


def test_app_serves_metrics_and_heartbeat_itself(demo_server):
    beat = get(demo_server.url + "/heartbeat").json()
    assert beat["ok"] is True and beat["pid"] == demo_server.pid
    assert beat["sidecar_host"] == "127.0.0.1"
    assert beat["sidecar_port"] == int(demo_server.metrics_url.rsplit(":")[-1])
    assert beat["lag_s"] < 1.0
    values = metrics(demo_server.url)
    for name in (
        "loadtui_threadpool_capacity",
        "loadtui_requests_in_flight",
        "loadtui_event_loop_tick_age_seconds",
        "loadtui_event_loop_lag_seconds",
        "process_resident_memory_bytes",
    ):
        assert any(key[0] == name for key in values), name
