"""Test helpers: the real CLI in a process of its own, real HTTP against real servers (never
mocked), waiting for a condition rather than for a fixed time."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from loadtui.cli import options
from loadtui.cli.parser import build_parser
from loadtui.engine import hdr
from loadtui.exits import UsageError

# Tests that drive a server with many users and then assert on throughput, latency or timing
# windows: on 2 cores, two of them at once starve each other's servers and engines. This group
# runs them one after another on one worker (pytest runs with --dist loadgroup, pyproject.toml);
# the other worker takes the lighter tests meanwhile.
LOAD = pytest.mark.xdist_group("load")


def loadtui(
    *args: str | Path, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`loadtui ARGS` in a process of its own, to its end (``env`` added to this one's)."""
    return subprocess.run(
        [sys.executable, "-m", "loadtui", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def start(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`loadtui ARGS` started in a process of its own, its output piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "loadtui", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def parse(argv: list[str]) -> tuple[int | None, str]:
    """Parse and check ``argv`` as `loadtui` would, in this process (nothing is sent, started
    or written): (exit code or None if accepted, what it said)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            args = build_parser().parse_args(argv)
            if args.command == "run":
                options.run_spec(args)
            elif args.command == "matrix":
                options.matrix_plan(args)
            else:
                options.tui_config(args)
        except SystemExit as exit:
            return int(exit.code or 0), err.getvalue()
        except UsageError as exc:
            return 2, str(exc)
    return None, ""


def added(*encoded: str) -> list[tuple[int, int]]:
    """The buckets of encoded HDR histograms added together."""
    total = hdr.new_histogram()
    for data in encoded:
        hdr.add_encoded(total, data)
    return hdr.recorded(total)


def get(url: str, timeout: float = 5.0) -> httpx.Response:
    return httpx.get(url, timeout=timeout)


def metrics(
    base_url: str, timeout: float = 2.0
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus samples by (name, sorted labels)."""
    text = httpx.get(f"{base_url}/metrics", timeout=timeout).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(values: dict, name: str, **labels: str) -> float:
    return values[(name, tuple(sorted(labels.items())))]


def stalls(metrics_url: str) -> list[dict[str, Any]]:
    return httpx.get(f"{metrics_url}/stalls", timeout=2.0).json()["stalls"]


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def wait_children(proc: subprocess.Popen[str], engines: int = 1, servers: int = 1) -> list:
    """The processes under ``proc`` once its engines and spawned servers have started."""

    def ready() -> list[psutil.Process] | None:
        found = descendants(proc.pid)
        lines = [" ".join(p.cmdline()) for p in found if p.is_running()]
        engine_count = sum("loadtui.workers" in line for line in lines)
        server_count = sum(" server " in line for line in lines)
        return found if engine_count >= engines and server_count >= servers else None

    found = wait_for(ready, timeout=20)
    assert found, "the engine and server did not start"
    return found


def wait_load(proc: subprocess.Popen[str], timeout: float = 30) -> None:
    """Wait until an engine under ``proc`` (a loadtui command) holds a connection to its target:
    the load has begun. Engines start some time after their processes (seconds, on a busy
    machine): a test that acts on a run's measurements waits for this, not for a fixed time."""

    def connected() -> bool:
        for process in descendants(proc.pid):
            with contextlib.suppress(psutil.Error):
                engine = "loadtui.workers" in " ".join(process.cmdline())
                tcp = process.net_connections(kind="tcp")
                if engine and any(c.status == psutil.CONN_ESTABLISHED for c in tcp):
                    return True
        return False

    assert wait_for(connected, timeout), "no engine connected to its target"


async def _concurrent_gets(url: str, count: int, timeout: float) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        return list(await asyncio.gather(*(client.get(url) for _ in range(count))))


def concurrent_gets(url: str, count: int, timeout: float = 30.0) -> list[httpx.Response]:
    return asyncio.run(_concurrent_gets(url, count, timeout))


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Serve an ASGI app with a real uvicorn on a free loopback port, in a thread."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    if not wait_for(lambda: server.started, timeout=10):
        raise RuntimeError("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def fill(directory: Path, leave: int = 0) -> None:
    """Fill the file system of ``directory``, then free ``leave`` bytes again."""
    fd = os.open(directory / "ballast", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass  # full
    finally:
        if leave:
            os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
        os.close(fd)


def engine_config(host: str, port: int, path: str, plan: Any, interval_s: float = 1.0) -> Any:
    """An engine's configuration for a plain GET of ``path``, built as a runner builds it."""
    from loadtui.engine.messages import EngineConfig, EngineRequest
    from loadtui.engine.request_spec import Shape, from_command_line, payloads

    request = EngineRequest("GET", payloads(from_command_line(path, Shape()), f"{host}:{port}"))
    return EngineConfig(host, port, (request,), plan, interval_s=interval_s)
