"""loadtui.server.instrumentation: instrument(app) is safe to ship: its own paths (a prefix), never
over someone else's /metrics (real Prometheus exporters, added before or after), an environment
switch, one call's worth of additions however often it is called, and one clear line when the
sidecar is given the app's own port."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import make_asgi_app
from prometheus_fastapi_instrumentator import Instrumentator
from starlette.routing import Route
from starlette_exporter import PrometheusMiddleware, handle_metrics

from loadtui.server import Instrumentation, InstrumentError, instrument
from tests.apps import MODULE, free_port, serve_app
from tests.helpers import get, serve_in_thread

INSTRUMENTATOR = "from prometheus_fastapi_instrumentator import Instrumentator\n"
INSTRUMENTATOR += "Instrumentator().instrument(app).expose(app)\n"
EXPORTER = "from starlette_exporter import PrometheusMiddleware, handle_metrics\n"
EXPORTER += "app.add_middleware(PrometheusMiddleware)\napp.add_route('/metrics', handle_metrics)\n"


def _app_source(before: str = "", after: str = "", options: str = "") -> str:
    return (
        "import os\nfrom fastapi import FastAPI\nfrom loadtui import instrument\n"
        "app = FastAPI()\n\n@app.get('/hello')\nasync def hello():\n    return {'hello': 1}\n\n"
        f"{before}\ninstrument(app{options})\n{after}"
    )


def _run_to_exit(source: str, tmp_path, port: int | None = None) -> subprocess.CompletedProcess:
    """Serve with uvicorn (one process), expecting it to give up: its exit and output."""
    (tmp_path / f"{MODULE}.py").write_text(source)
    command = [sys.executable, "-m", "uvicorn", f"{MODULE}:app", "--app-dir", str(tmp_path)]
    command += ["--port", str(port or free_port()), "--log-level", "warning"]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, cwd=tmp_path)


# ---- an existing /metrics -------------------------------------------------------------------
def _instrumentator_app() -> FastAPI:
    app = FastAPI()
    Instrumentator().instrument(app).expose(app)
    return app


def _exporter_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(PrometheusMiddleware)
    app.add_route("/metrics", handle_metrics)
    return app


def _mounted_app() -> FastAPI:
    app = FastAPI()
    app.mount("/metrics", make_asgi_app())
    return app


@pytest.mark.parametrize("build", [_instrumentator_app, _exporter_app, _mounted_app])
def test_a_metrics_route_added_before_is_an_error_naming_the_option(build):
    app = build()
    routes_before = list(app.router.routes)
    with pytest.raises(InstrumentError, match=r"already serves /metrics .*path_prefix="):
        instrument(app)
    assert app.router.routes == routes_before  # nothing added
    assert isinstance(instrument(app, path_prefix="/loadtui"), Instrumentation)


@pytest.mark.e2e
@pytest.mark.parametrize("exporter", [INSTRUMENTATOR, EXPORTER], ids=["instrumentator", "exporter"])
def test_a_metrics_route_added_after_stops_the_app_at_startup_naming_the_option(exporter, tmp_path):
    result = _run_to_exit(_app_source(after=exporter), tmp_path)
    assert result.returncode != 0
    assert "InstrumentError: loadtui: the app already serves /metrics" in result.stderr
    assert "pass instrument(app, path_prefix='/loadtui')" in result.stderr


@pytest.mark.e2e
@pytest.mark.parametrize("exporter", [INSTRUMENTATOR, EXPORTER], ids=["instrumentator", "exporter"])
def test_with_a_prefix_both_metrics_are_served(exporter, tmp_path):
    source = _app_source(after=exporter, options=", path_prefix='/loadtui'")
    with serve_app(source, tmp_path, ready_path="/loadtui/heartbeat") as app:
        assert get(app.url + "/hello").status_code == 200
        theirs, ours = get(app.url + "/metrics").text, get(app.url + "/loadtui/metrics").text
        assert "loadtui_event_loop" not in theirs and "requests_total" in theirs
        assert "loadtui_event_loop_lag_seconds" in ours
        beat = get(app.url + "/loadtui/heartbeat").json()
        identity = get(f"http://127.0.0.1:{beat['sidecar_port']}/identity").json()
        assert identity["app_paths"] == {
            "heartbeat": "/loadtui/heartbeat",
            "metrics": "/loadtui/metrics",
        }
        assert get(app.url + "/heartbeat").status_code == 404


def test_a_bad_prefix_is_refused():
    for prefix in ("loadtui", "/loadtui/", "/a?b"):
        with pytest.raises(ValueError, match="path_prefix"):
            instrument(FastAPI(), path_prefix=prefix)


def test_a_bad_sampling_rate_is_refused():
    for rate in (-1, 1001, 2.5, True, "100"):
        with pytest.raises(ValueError, match="sample_hz must be a whole number from 0 to 1000"):
            instrument(FastAPI(), sample_hz=rate)  # type: ignore[arg-type]


# ---- the switch, and idempotence --------------------------------------------------------------
@pytest.mark.e2e
def test_the_environment_switch_turns_everything_off(tmp_path):
    with serve_app(
        _app_source(), tmp_path, env={"LOADTUI_INSTRUMENT": "0"}, ready_path="/hello"
    ) as app:
        assert get(app.url + "/hello").json() == {"hello": 1}
        assert get(app.url + "/heartbeat").status_code == 404
        assert get(app.url + "/metrics").status_code == 404
        assert app.listening_ports(app.processes()[0]) == {app.port}  # no sidecar


def test_the_switch_in_process_adds_nothing(monkeypatch):
    monkeypatch.setenv("LOADTUI_INSTRUMENT", "off")
    app = FastAPI()
    routes = list(app.router.routes)
    assert instrument(app) is None
    assert app.router.routes == routes and app.user_middleware == []


@pytest.mark.e2e
def test_instrumenting_twice_returns_the_same_instrumentation_and_adds_nothing():
    app = FastAPI()
    first = instrument(app, metrics_port=None)
    routes, middleware = list(app.router.routes), list(app.user_middleware)
    assert instrument(app) is first
    assert instrument(app, path_prefix="/other") is first
    assert app.router.routes == routes and app.user_middleware == middleware
    assert [m.cls.__name__ for m in middleware] == ["_InstrumentMiddleware"]
    with serve_in_thread(app) as url:
        assert get(url + "/heartbeat").json()["ok"] is True
        assert httpx.post(url + "/heartbeat", timeout=5).status_code == 405


@pytest.mark.e2e
def test_our_routes_come_before_a_catch_all_of_the_app():
    async def everything(_request):
        raise AssertionError("the catch-all answered")

    app = FastAPI()
    app.router.routes.append(Route("/{path:path}", everything))
    instrument(app, metrics_port=None)
    with serve_in_thread(app) as url:
        assert get(url + "/heartbeat").json()["ok"] is True


# ---- the sidecar given the app's own port ------------------------------------------------------
@pytest.mark.e2e
def test_the_app_port_as_metrics_port_is_one_clear_line(tmp_path):
    port = free_port()
    result = _run_to_exit(_app_source(options=f", metrics_port={port}"), tmp_path, port=port)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert errors == [
        f"ERROR:    loadtui: the app cannot listen on port {port}: its own metrics sidecar "
        "holds it; give instrument(app, metrics_port=...) another port"
    ], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.e2e
def test_stall_stacks_show_paths_relative_to_their_roots():
    source = textwrap.dedent(
        """
        import time
        from starlette.applications import Starlette
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route

        def block():
            time.sleep(0.3)

        async def slow(_request):
            block()
            return PlainTextResponse("ok")

        app = Starlette(routes=[Route("/slow", slow)])
        """
    )
    namespace: dict = {"__name__": "shop.views"}  # as if imported from <app root>/shop/views.py
    exec(compile(source, "/srv/app/shop/views.py", "exec"), namespace)
    app = namespace["app"]
    ins = instrument(app)
    with serve_in_thread(app) as url:
        get(url + "/slow")
        stalls = get(f"http://127.0.0.1:{ins.sidecar.port}/stalls").json()["stalls"]
    stall = next(s for s in stalls if s["culprit"] == "block")
    assert stall["location"] == "shop/views.py:8"
    assert not [line for line in stall["stack"] if line.startswith("/")]
    assert any(line.startswith("starlette/routing.py:") for line in stall["stack"])
