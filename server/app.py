"""The demo app: every route variant, instrumented."""

from __future__ import annotations

from fastapi import FastAPI

from .instrumentation import instrument
from .routes import add_variant_routes


def create_app(
    *, threads: int | None = None, metrics_host: str = "127.0.0.1", metrics_port: int | None = 0
) -> FastAPI:
    app = FastAPI(title="loadtui demo server", docs_url=None, redoc_url=None)
    add_variant_routes(app)
    instrument(app, threads=threads, metrics_host=metrics_host, metrics_port=metrics_port)
    return app
