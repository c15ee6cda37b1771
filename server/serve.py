"""Serve the demo app with uvicorn (one worker) and announce where it listens."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, TextIO

import uvicorn

from .app import create_app
from .instrumentation import Instrumentation

GRACEFUL_SHUTDOWN_S = 1


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 8001
    threads: int | None = None
    announce_json: bool = False  # one JSON line on stdout when ready (for the spawn helper)
    exit_with_parent: bool = False  # exit when stdin reaches EOF (the parent is gone)


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _exit_when_parent_dies() -> None:
    """The parent holds our stdin's write end; EOF means it is gone, however it died."""

    def watch() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(GRACEFUL_SHUTDOWN_S + 1.0)
        os._exit(0)  # the loop may be blocked, or background threads may never end

    threading.Thread(target=watch, name="loadtui-lifeline", daemon=True).start()


def _announce(opts: ServeOptions, port: int, metrics_port: int | None, out: TextIO) -> None:
    url = f"http://{opts.host}:{port}"
    if opts.announce_json:
        line = json.dumps(
            {"event": "ready", "pid": os.getpid(), "url": url, "metrics_port": metrics_port}
        )
    else:
        sidecar = f"http://{opts.metrics_host}:{metrics_port}/metrics" if metrics_port else "off"
        line = f"loadtui demo server on {url} (pid {os.getpid()}); metrics sidecar: {sidecar}"
    print(line, file=out, flush=True)


async def _serve(
    opts: ServeOptions,
    server: uvicorn.Server,
    sock: socket.socket,
    ins: Instrumentation | None,
    out: TextIO,
) -> None:
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if server.started:
        sidecar = ins.sidecar if ins is not None else None  # None: LOADTUI_INSTRUMENT=0
        _announce(opts, sock.getsockname()[1], sidecar.port if sidecar else None, out)
    await task


def serve(opts: ServeOptions, app: Any = None, announce_to: TextIO | None = None) -> int:
    """Run ``app`` (default: the demo app) until stopped, announcing it on ``announce_to``
    (default: stdout). Raises OSError when the port cannot be bound."""
    if app is None:
        app = create_app(
            threads=opts.threads, metrics_host=opts.metrics_host, metrics_port=opts.metrics_port
        )
    if opts.metrics_port:
        bind_socket(opts.metrics_host, opts.metrics_port).close()  # fail early and plainly
    sock = bind_socket(opts.host, opts.port)
    config = uvicorn.Config(
        app,
        loop="auto",
        http="auto",
        access_log=False,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    server = uvicorn.Server(config)
    if opts.exit_with_parent:
        _exit_when_parent_dies()
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        ins = getattr(app.state, "loadtui", None)
        runner.run(_serve(opts, server, sock, ins, announce_to or sys.stdout))
    return 0 if server.started else 1
