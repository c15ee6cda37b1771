"""Start fresh demo servers as child processes on free loopback ports, and stop them.

A spawned server can never outlive loadtui: it holds the read end of a pipe whose only
writer is this process, and exits when that pipe reaches EOF, which happens however this
process ends (even SIGKILL). It also runs in a session of its own, so a Ctrl-C meant for
loadtui does not cut the server off in the middle of a measurement.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from typing import IO, TYPE_CHECKING

from loadtui.targets.target import Target, parse_target

if TYPE_CHECKING:
    from loadtui.targets.serve_app import AppImport

START_TIMEOUT_S = 20.0
STOP_GRACE_S = 2.0


class SpawnError(RuntimeError):
    """The demo server could not be started."""


_live: set[SpawnedServer] = set()
_live_lock = threading.Lock()


@dataclass(eq=False)
class SpawnedServer:
    proc: subprocess.Popen[bytes]
    url: str
    metrics_url: str | None
    _log: IO[bytes]
    _stopped: bool = field(default=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def target(self, route: str) -> Target:
        """This server as the target of a run loading ``route``: its sidecar and process known."""
        found = parse_target(self.url, route)
        return replace(found, spawned=True, metrics_url=self.metrics_url, pid=self.pid)

    @classmethod
    def start(
        cls,
        *,
        threads: int | None = None,
        host: str = "127.0.0.1",
        timeout: float = START_TIMEOUT_S,
        app: AppImport | None = None,
    ) -> SpawnedServer:
        """The demo server (``threads``: its pool's size), or ``app`` instrumented."""
        if app is None:
            command = [sys.executable, "-m", "loadtui", "server", "--host", host, "--port", "0"]
            command += ["--metrics-port", "0", "--announce-json", "--exit-with-parent"]
            command += ["--threads", str(threads)] if threads is not None else []
            env, cwd, what = None, None, "demo server"
        else:
            command, env, cwd = app.command(host), app.environment(), app.directory
            what = f"app {app.import_string}"
        log = tempfile.TemporaryFile(prefix="loadtui-server-")  # noqa: SIM115 (lives with the server)
        proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
            env=env,
            cwd=cwd,
        )
        try:
            ready = _read_ready_line(proc, timeout, what)
        except SpawnError as exc:
            _kill(proc)
            raise SpawnError(f"{exc}{_last_line(log)}") from None
        metrics_port = ready.get("metrics_port")
        metrics_url = f"http://{host}:{metrics_port}" if metrics_port else None
        server = cls(proc, str(ready["url"]), metrics_url, log)
        with _live_lock:
            _live.add(server)
        return server

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM (uvicorn's bounded graceful shutdown), then SIGKILL after ``grace``."""
        with _live_lock:
            if self._stopped:
                return
            self._stopped = True
            _live.discard(self)
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                _kill(self.proc)
        for stream in (self.proc.stdin, self.proc.stdout, self._log):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def __enter__(self) -> SpawnedServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _read_ready_line(proc: subprocess.Popen[bytes], timeout: float, what: str) -> dict[str, object]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SpawnError(f"{what} did not become ready within {timeout:.0f} s")
            if not selector.select(remaining):
                continue
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                raise SpawnError(f"{what} exited during start (code {proc.wait()})")
            buffer += chunk
    try:
        ready = json.loads(buffer.partition(b"\n")[0])
    except ValueError:
        raise SpawnError(f"{what} announced itself in an unknown way") from None
    if not isinstance(ready, dict) or ready.get("event") != "ready":
        raise SpawnError(f"{what} announced itself in an unknown way")
    return ready


def _last_line(log: IO[bytes]) -> str:
    with contextlib.suppress(OSError):
        log.seek(0)
        lines = [line for line in log.read().decode(errors="replace").splitlines() if line.strip()]
        if lines:
            return f": {lines[-1].strip()}"
    return ""


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


@atexit.register
def stop_all() -> None:
    """Stop every server this process spawned and has not stopped yet."""
    with _live_lock:
        servers = list(_live)
    for server in servers:
        server.stop(grace=0.5)
