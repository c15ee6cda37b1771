"""loadtui.server.routes: the demo's route 1 behaves like the seed's: under the seed's load (100
users, 20/s, 30 s, think 0.1-0.5 s) it completes as many requests as a plain FastAPI app written
here, served by its own uvicorn process, both measured by loadtui's engine at the same time.

Route 1 is a def handler whose 10 s sync background tasks fill the 40-thread pool, so every
extra trip through the pool costs a request seconds of queueing: a response model on the demo's
handler (FastAPI validates a def handler's return value in the pool) made it complete ~150
requests where the seed completes ~190.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from loadtui.server.variants import find_variant
from tests.apps import serve_app

# Out of the serial load group: both runs go at once and are compared with each other (a pool
# of sleeping threads sets the pace, ~16 req/s each), so other tests beside them slow both alike.
pytestmark = [pytest.mark.e2e]

ROUTE = find_variant("1").path
SEED_APP = f"""
    import time
    from fastapi import BackgroundTasks, FastAPI

    app = FastAPI()

    def sync_inner_function():
        time.sleep(0.2)

    def sync_background_task():
        time.sleep(10)

    @app.get("{ROUTE}")
    def route(background_tasks: BackgroundTasks):
        sync_inner_function()
        background_tasks.add_task(sync_background_task)
        return {{"route": "{ROUTE}"}}
"""
SEED_LOAD = ["--users", "100", "--spawn-rate", "20", "--duration", "30"]


def _loadtui_run(args: list[str], out) -> subprocess.Popen:
    command = [sys.executable, "-m", "loadtui", "run", *args, *SEED_LOAD, "--json", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_route1_completes_as_many_requests_as_a_plain_fastapi_app(tmp_path):
    with serve_app(SEED_APP, tmp_path, ready_path="/openapi.json") as plain:
        runs = {
            "demo": _loadtui_run(["1"], tmp_path / "demo.json"),
            "plain": _loadtui_run([ROUTE, "--target", plain.url], tmp_path / "plain.json"),
        }
        for name, proc in runs.items():
            _out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, (name, err)
    counts = {
        name: json.loads((tmp_path / f"{name}.json").read_text())["summary"]["requests"]
        for name in runs
    }
    assert counts["plain"] > 100, counts  # the seed's figure is 183-196 (Locust)
    assert abs(counts["demo"] - counts["plain"]) <= 0.10 * counts["plain"], counts
