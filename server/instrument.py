"""``instrument(app)``: make any FastAPI/Starlette app show its event loop, thread pool and
background backlog.

What it adds:
- a heartbeat task and a stall watchdog (:mod:`server.loopwatch`);
- background-task accounting by kind (:mod:`server.background`);
- thread-pool gauges read from AnyIO's default limiter, captured once inside the loop;
- requests in flight (until the response's last byte, not until background work ends);
- ``GET /metrics`` and ``GET /heartbeat`` on the app, answered by the loop;
- a metrics sidecar on its own port (:mod:`server.sidecar`) that answers while the loop is
  blocked.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from anyio import CapacityLimiter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .background import (
    BackgroundAccounting,
    current_accounting,
    install_patch,
    learn_blocking,
    mark_blocking,
)
from .loopwatch import LoopWatch
from .metrics import CONTENT_TYPE, build_registry, exposition
from .sidecar import Sidecar

__all__ = ["Instrumentation", "instrument", "mark_blocking"]

HEARTBEAT_PATH = "/heartbeat"
METRICS_PATH = "/metrics"


@dataclass
class Instrumentation:
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = 0  # None: no sidecar
    threads: int | None = None
    watch: LoopWatch = field(default_factory=LoopWatch)
    background: BackgroundAccounting = field(default_factory=BackgroundAccounting)
    in_flight: int = 0
    limiter: CapacityLimiter | None = None
    sidecar: Sidecar | None = None

    def __post_init__(self) -> None:
        self.registry = build_registry(self)
        self.watch.on_stall = lambda _stall, codes: learn_blocking(codes)

    # ---- lifecycle, inside the loop ------------------------------------------------
    async def startup(self) -> None:
        self.limiter = anyio.to_thread.current_default_thread_limiter()
        if self.threads is not None:
            self.limiter.total_tokens = self.threads
        self.watch.start()
        if self.metrics_port is not None:
            self.sidecar = Sidecar(
                self.metrics_host, self.metrics_port, self.metrics_text, self.watch.stalls
            )
            self.sidecar.start()

    async def shutdown(self) -> None:
        await self.watch.stop()
        if self.sidecar is not None:
            self.sidecar.stop()

    # ---- readable from any thread ----------------------------------------------------
    def threadpool(self) -> tuple[int, int, int] | None:
        """(capacity, busy, waiting); plain reads only, so safe outside the loop."""
        limiter = self.limiter
        if limiter is None:
            return None
        return (
            int(limiter.total_tokens),
            int(limiter.borrowed_tokens),
            limiter.statistics().tasks_waiting,
        )

    def metrics_text(self) -> bytes:
        return exposition(self.registry)

    def heartbeat(self) -> dict[str, Any]:
        return {
            "ok": True,
            "pid": os.getpid(),
            "lag_s": round(self.watch.lag(), 6),
            "tick_age_s": round(self.watch.tick_age(), 6),
            "stalls_total": self.watch.stalls_total,
            "sidecar_port": self.sidecar.port if self.sidecar else None,
        }


class _InstrumentMiddleware:
    """Counts requests in flight and lets background tasks find their accounting."""

    def __init__(self, app: ASGIApp, instrumentation: Instrumentation) -> None:
        self.app = app
        self.ins = instrumentation

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in (HEARTBEAT_PATH, METRICS_PATH):
            await self.app(scope, receive, send)
            return
        ins = self.ins
        token = current_accounting.set(ins.background)
        ins.in_flight += 1
        answered = False

        async def send_counting(message: Message) -> None:
            nonlocal answered
            await send(message)
            if (
                not answered
                and message["type"] == "http.response.body"
                and not message.get("more_body", False)
            ):
                answered = True
                ins.in_flight -= 1

        try:
            await self.app(scope, receive, send_counting)
        finally:
            if not answered:
                ins.in_flight -= 1
            current_accounting.reset(token)


def _wrap_lifespan(app: Any, ins: Instrumentation) -> None:
    original = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(inner_app: Any) -> AsyncIterator[Any]:
        await ins.startup()
        try:
            async with original(inner_app) as state:
                yield state
        finally:
            await ins.shutdown()

    app.router.lifespan_context = lifespan


def instrument(
    app: Any,
    *,
    metrics_host: str = "127.0.0.1",
    metrics_port: int | None = 0,
    threads: int | None = None,
    stall_threshold: float = 0.1,
    tick_interval: float = 0.02,
) -> Instrumentation:
    """Instrument a FastAPI or Starlette app in place, before it is served.

    ``metrics_port``: the sidecar's port (0 picks a free one, None disables it).
    ``threads``: resize AnyIO's default thread pool (default 40) at startup.
    """
    if threads is not None and threads < 1:
        raise ValueError("threads must be at least 1")
    install_patch()
    ins = Instrumentation(
        metrics_host=metrics_host,
        metrics_port=metrics_port,
        threads=threads,
        watch=LoopWatch(threshold_s=stall_threshold, tick_interval_s=tick_interval),
    )
    app.add_middleware(_InstrumentMiddleware, instrumentation=ins)
    _wrap_lifespan(app, ins)

    async def heartbeat(_request: Request) -> Response:
        return JSONResponse(ins.heartbeat())

    async def metrics(_request: Request) -> Response:
        return Response(ins.metrics_text(), media_type=CONTENT_TYPE)

    app.router.routes.append(Route(HEARTBEAT_PATH, heartbeat, methods=["GET"]))
    app.router.routes.append(Route(METRICS_PATH, metrics, methods=["GET"]))
    app.state.loadtui = ins
    return ins
