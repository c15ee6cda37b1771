"""``instrument(app)``: make any FastAPI/Starlette app show its event loop, thread pool and
background backlog.

What it adds:
- a heartbeat task and a stall watchdog (:mod:`loadtui.server.loopwatch`);
- background-task accounting by kind (:mod:`loadtui.server.background`);
- thread-pool gauges read from AnyIO's default limiter, captured once inside the loop;
- requests in flight (until the response's last byte, not until background work ends);
- ``GET /metrics`` and ``GET /heartbeat`` on the app, answered by the loop (served by the
  instrumentation's middleware, ahead of the app's routes: requests to the app's own routes pay
  no extra route matching);
- a metrics sidecar on its own port (:mod:`loadtui.server.sidecar`) that answers while the loop
  is blocked, one per worker process (:mod:`loadtui.server.listen`), and tells a waiting probe
  of each stall as it begins and ends (``/stalls/wait``: :mod:`loadtui.server.stallnews`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from anyio import CapacityLimiter
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .appframes import AppCode, packages_of
from .apppaths import AppPaths, InstrumentError, check_free
from .background import (
    BackgroundAccounting,
    current_accounting,
    install_patch,
    learn_blocking,
    mark_blocking,
)
from .listen import AppPortHint, sidecar_socket
from .loopwatch import LoopWatch
from .metrics import CONTENT_TYPE, MetricSources, PoolReading, build_registry, exposition
from .sampler import DEFAULT_HZ, MAX_HZ, Sampler
from .sidecar import Responder, Sidecar
from .stallnews import StallNews, after_of

__all__ = ["ENV_SWITCH", "InstrumentError", "Instrumentation", "instrument", "mark_blocking"]

ENV_SWITCH = "LOADTUI_INSTRUMENT"
_OFF_VALUES = frozenset({"0", "off", "false", "no"})
_JSON = "application/json"
SIDECAR_SERVICE = "loadtui-sidecar"


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


@dataclass
class Instrumentation:
    paths: AppPaths = field(default_factory=lambda: AppPaths.under(""))
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = 0  # None: no sidecar
    threads: int | None = None
    watch: LoopWatch = field(default_factory=LoopWatch)
    background: BackgroundAccounting = field(default_factory=BackgroundAccounting)
    in_flight: int = 0
    limiter: CapacityLimiter | None = None
    sidecar: Sidecar | None = None
    news: StallNews = field(default_factory=StallNews)
    sample_hz: int = DEFAULT_HZ  # 0: no stack sampler
    sampler: Sampler | None = None
    _port_hint: AppPortHint | None = None

    def __post_init__(self) -> None:
        sources = MetricSources(
            threadpool=self.threadpool,
            background=self.background.snapshot,
            in_flight=lambda: self.in_flight,
            loop=self.watch,
        )
        self.registry = build_registry(sources)
        self.watch.on_stall = lambda _stall, codes: learn_blocking(codes)
        self.watch.on_news = lambda stall: self.news.publish(stall.to_dict(time.monotonic()))

    # ---- lifecycle, inside the loop ------------------------------------------------
    async def startup(self) -> None:
        self.limiter = anyio.to_thread.current_default_thread_limiter()
        if self.threads is not None:
            self.limiter.total_tokens = self.threads
        self.watch.start()
        if self.metrics_port is not None:
            self._start_sidecar(self.metrics_port)
        if self.sidecar is not None and self.sample_hz:
            loop_thread = threading.get_ident()
            threads = self.background.threads
            self.sampler = Sampler(self.watch.app, loop_thread, threads, self.sample_hz)
            self.sampler.start()

    async def shutdown(self) -> None:
        await self.watch.stop()
        if self.sampler is not None:
            self.sampler.stop()
            self.sampler = None
        if self.sidecar is not None:
            self.news.on_news = None
            self.sidecar.stop()
            self.sidecar = None
        if self._port_hint is not None:
            logging.getLogger("uvicorn.error").removeFilter(self._port_hint)

    def _start_sidecar(self, port: int) -> None:
        sock = sidecar_socket(self.metrics_host, port)
        if sock is None:
            return
        self.sidecar = Sidecar(sock, self._sidecar_routes(), {"/stalls/wait": self.news})
        self.news.on_news = self.sidecar.notify
        self.sidecar.start()
        if port and self.sidecar.port == port:
            self._port_hint = AppPortHint(port)
            logging.getLogger("uvicorn.error").addFilter(self._port_hint)

    def _sidecar_routes(self) -> dict[str, Responder]:
        return {
            "/metrics": lambda _query: (self.metrics_text(), CONTENT_TYPE),
            "/stalls": lambda _query: (
                _json({"pid": os.getpid(), "stalls": self.watch.stalls()}),
                _JSON,
            ),
            "/identity": lambda _query: (_json(self.identity()), _JSON),
            "/samples": lambda query: (_json(self.samples(after_of(query))), _JSON),
        }

    # ---- readable from any thread ----------------------------------------------------
    def threadpool(self) -> PoolReading | None:
        """(capacity, busy, waiting); plain reads only, so safe outside the loop."""
        limiter = self.limiter
        if limiter is None:
            return None
        return (
            int(limiter.total_tokens),
            int(limiter.borrowed_tokens),
            limiter.statistics().tasks_waiting,
        )

    def samples(self, after: int | None = None) -> dict[str, Any]:
        """The stack sampler's finished seconds (those after epoch ``after`` when given): who
        held the threads, how busy the loop was."""
        sampler = self.sampler
        return {
            "pid": os.getpid(),
            "hz": sampler.hz if sampler else 0,
            "seconds": sampler.seconds(after) if sampler else [],
        }

    def metrics_text(self) -> bytes:
        return exposition(self.registry)

    def identity(self) -> dict[str, Any]:
        """Who this sidecar belongs to: a probe matches readings to worker processes by pid."""
        sidecar = self.sidecar
        return {
            "service": SIDECAR_SERVICE,
            "pid": os.getpid(),
            "host": sidecar.host if sidecar else None,
            "port": sidecar.port if sidecar else None,
            "app_paths": {"heartbeat": self.paths.heartbeat, "metrics": self.paths.metrics},
        }

    def heartbeat(self) -> dict[str, Any]:
        """The app-side ``/heartbeat`` answer: only the loop can give it."""
        sidecar = self.sidecar
        return {
            "ok": True,
            "pid": os.getpid(),
            "lag_s": round(self.watch.lag(), 6),
            "tick_age_s": round(self.watch.tick_age(), 6),
            "stalls_total": self.watch.stalls_total,
            "sidecar_host": sidecar.host if sidecar else None,
            "sidecar_port": sidecar.port if sidecar else None,
        }


class _InstrumentMiddleware:
    """Answers the app-side paths; counts requests in flight and lets background tasks find
    their accounting."""

    def __init__(self, app: ASGIApp, instrumentation: Instrumentation) -> None:
        self.app = app
        self.ins = instrumentation
        paths = instrumentation.paths
        self.own: dict[str, Callable[[], Response]] = {
            paths.heartbeat: lambda: JSONResponse(instrumentation.heartbeat()),
            paths.metrics: lambda: Response(
                instrumentation.metrics_text(), media_type=CONTENT_TYPE
            ),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        answer = self.own.get(scope["path"])
        if answer is not None:
            response = answer() if scope["method"] == "GET" else _NOT_ALLOWED
            await response(scope, receive, send)
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


_NOT_ALLOWED = PlainTextResponse("Method Not Allowed", status_code=405, headers={"Allow": "GET"})


def _wrap_lifespan(app: Any, ins: Instrumentation) -> None:
    original = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(inner_app: Any) -> AsyncIterator[Any]:
        check_free(app.router.routes, ins.paths)  # routes added after instrument()
        ins.watch.app = ins.watch.app.with_packages(packages_of(app.router.routes))
        await ins.startup()
        try:
            async with original(inner_app) as state:
                yield state
        finally:
            await ins.shutdown()

    app.router.lifespan_context = lifespan


def switched_off() -> bool:
    return os.environ.get(ENV_SWITCH, "").strip().lower() in _OFF_VALUES


def instrument(
    app: Any,
    *,
    metrics_host: str = "127.0.0.1",
    metrics_port: int | None = 0,
    path_prefix: str = "",
    threads: int | None = None,
    stall_threshold: float = 0.1,
    tick_interval: float = 0.02,
    sample_hz: int = DEFAULT_HZ,
) -> Instrumentation | None:
    """Instrument a FastAPI or Starlette app in place, before it is served.

    ``metrics_host``: the sidecar's address; loopback unless you say otherwise (any other
    address logs a warning, since the sidecar shows stacks).
    ``metrics_port``: the sidecar's port (0 picks a free one, None disables it). Every worker
    process (``uvicorn --workers N``, gunicorn) gets a sidecar: the first to start takes this
    port and each of the others a free one, saying so in one line; a worker that cannot listen
    at all says so in one line and serves without a sidecar. ``/heartbeat`` and the sidecar's
    ``/identity`` give the worker's pid and its sidecar's port. Never the app's own port.
    ``path_prefix``: where the app-side routes go, e.g. ``"/loadtui"`` for
    ``/loadtui/heartbeat`` and ``/loadtui/metrics`` (default ``/heartbeat``, ``/metrics``). A
    route the app already has at one of them (a Prometheus exporter's ``/metrics``, added
    before or after this call) raises :class:`InstrumentError` naming this option.
    ``threads``: resize AnyIO's default thread pool (default 40) at startup.
    ``sample_hz``: how often, while loadtui watches, the sidecar samples the threads' stacks to
    name who holds the thread pool and how busy the loop is (0 turns it off; at most 1000).

    Calling it again on an instrumented app returns the existing instrumentation and adds
    nothing (later calls' options are ignored).

    Environment: ``LOADTUI_INSTRUMENT=0`` (or ``off``, ``false``, ``no``) turns it all off
    without a code change: nothing is added and the call returns None.
    """
    if switched_off():
        return None
    existing = getattr(app.state, "loadtui", None)
    if isinstance(existing, Instrumentation):
        return existing
    if threads is not None and threads < 1:
        raise ValueError("threads must be at least 1")
    if (
        isinstance(sample_hz, bool)
        or not isinstance(sample_hz, int)
        or not 0 <= sample_hz <= MAX_HZ
    ):
        raise ValueError(f"sample_hz must be a whole number from 0 to {MAX_HZ} (got {sample_hz!r})")
    ins = Instrumentation(
        paths=AppPaths.under(path_prefix),
        metrics_host=metrics_host,
        metrics_port=metrics_port,
        threads=threads,
        sample_hz=sample_hz,
        watch=LoopWatch(
            threshold_s=stall_threshold,
            tick_interval_s=tick_interval,
            app=AppCode([sys._getframe(1).f_globals.get("__name__", "")]),
        ),
    )
    check_free(app.router.routes, ins.paths)
    install_patch()
    app.add_middleware(_InstrumentMiddleware, instrumentation=ins)
    _wrap_lifespan(app, ins)
    app.state.loadtui = ins
    return ins
