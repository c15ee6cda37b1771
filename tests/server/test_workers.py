"""loadtui.server.instrumentation and loadtui.server.listen with a fixed metrics port under real
multi-worker servers: uvicorn --workers 2 and gunicorn with uvicorn's worker. The app serves, every
worker has a sidecar, and each says its own pid and port, so that a probe can find them all without
the event loop."""

from __future__ import annotations

import httpx
import pytest

from tests.apps import ServedApp, free_port, serve_app
from tests.helpers import get, wait_for

pytestmark = pytest.mark.e2e

APP = """
    import os
    from fastapi import FastAPI
    from loadtui import instrument

    app = FastAPI()

    @app.get("/whoami")
    async def whoami():
        return {"pid": os.getpid()}

    instrument(app, metrics_port=int(os.environ["TEST_METRICS_PORT"]),
               metrics_host=os.environ.get("TEST_METRICS_HOST", "127.0.0.1"))
"""


def _sidecars(app: ServedApp, workers: int) -> dict[int, int]:
    """worker pid -> its sidecar's port, found from the listening sockets of the processes."""

    def found() -> dict[int, int] | None:
        sidecars = {}
        for process in app.processes()[1:]:  # the workers, not the supervisor or master
            extra = app.listening_ports(process) - {app.port}
            if len(extra) == 1:
                sidecars[process.pid] = extra.pop()
        return sidecars if len(sidecars) == workers else None

    return wait_for(found, timeout=20, interval=0.2)


@pytest.mark.parametrize("server", ["uvicorn", "gunicorn", "gunicorn --preload"])
def test_every_worker_gets_a_sidecar_that_says_its_pid(server, tmp_path):
    fixed = free_port()
    env = {"TEST_METRICS_PORT": str(fixed)}
    with serve_app(APP, tmp_path, server=server, workers=2, env=env, ready_path="/whoami") as app:
        sidecars = _sidecars(app, workers=2)
        assert sidecars, f"not two workers with a sidecar each: {app.stderr()[-2000:]}"
        assert fixed in sidecars.values()
        assert len(set(sidecars.values())) == 2
        for pid, port in sidecars.items():
            identity = get(f"http://127.0.0.1:{port}/identity").json()
            assert identity["service"] == "loadtui-sidecar"
            assert (identity["pid"], identity["port"]) == (pid, port)
            assert identity["app_paths"] == {"heartbeat": "/heartbeat", "metrics": "/metrics"}
            assert get(f"http://127.0.0.1:{port}/stalls").json()["pid"] == pid
            assert (
                "loadtui_event_loop_tick_age_seconds"
                in get(f"http://127.0.0.1:{port}/metrics").text
            )

        # each worker's heartbeat names its own sidecar (fresh connections reach either worker)
        answered: dict[int, int] = {}
        for _ in range(40):
            beat = httpx.get(app.url + "/heartbeat", headers={"Connection": "close"}).json()
            answered[beat["pid"]] = beat["sidecar_port"]
        assert answered and all(sidecars[pid] == port for pid, port in answered.items())
        assert get(app.url + "/whoami").json()["pid"] in sidecars

        moved = [line for line in app.stderr().splitlines() if line.startswith("loadtui:")]
        assert len(moved) == 1, app.stderr()
        assert f"metrics port {fixed} is taken" in moved[0]
        assert "Traceback" not in app.stderr()


def test_a_worker_whose_sidecar_cannot_listen_serves_on(tmp_path):
    env = {"TEST_METRICS_PORT": str(free_port()), "TEST_METRICS_HOST": "192.0.2.1"}  # not ours
    with serve_app(APP, tmp_path, env=env, ready_path="/whoami") as app:
        beat = get(app.url + "/heartbeat").json()
        assert beat["ok"] is True and beat["sidecar_port"] is None
        lines = [line for line in app.stderr().splitlines() if line.startswith("loadtui:")]
        assert lines == [
            f"loadtui: pid {beat['pid']} serves without a metrics sidecar: cannot listen on "
            f"192.0.2.1:{env['TEST_METRICS_PORT']}: Cannot assign requested address"
        ]


def test_the_app_port_given_as_metrics_port_under_workers_is_one_line_each(tmp_path):
    port = free_port()
    env = {"TEST_METRICS_PORT": str(port)}
    # the supervisor binds the app's socket before the workers start: both move their sidecar
    with serve_app(APP, tmp_path, workers=2, env=env, port=port, ready_path="/whoami") as app:
        assert _sidecars(app, workers=2), app.stderr()
        lines = [line for line in app.stderr().splitlines() if line.startswith("loadtui:")]
        assert len(lines) == 2, app.stderr()
        assert all(f"metrics port {port} is this app's own port" in line for line in lines)
