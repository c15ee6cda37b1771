"""Where a worker's metrics sidecar listens, and one line saying why when it is not where asked.

Under ``uvicorn --workers N`` or gunicorn every worker imports the app and runs the
instrumentation's startup, so a fixed ``metrics_port`` can belong to one worker only: the first
takes it, the others take a free port on the same host and say so in one line; a worker that
cannot listen at all says so and serves on without a sidecar. Nothing here stops the app.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import os
import socket
import stat

log = logging.getLogger("loadtui")

BACKLOG = 64


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def open_listener(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=BACKLOG)


def sidecar_socket(host: str, port: int) -> socket.socket | None:
    """A listening socket for this process's sidecar, ``port`` if it can be had."""
    try:
        if port and _held_here(port):
            raise OSError(errno.EADDRINUSE, "held by the app")
        sock = open_listener(host, port)
    except OSError as exc:
        sock = _instead(host, port, exc)
    if sock is not None and not is_loopback(host):
        log.warning(
            "loadtui: WARNING: the metrics sidecar listens on %s, beyond loopback: whoever "
            "reaches this host can read the app's metrics and stacks",
            _address(host, sock.getsockname()[1]),
        )
    return sock


def _instead(host: str, port: int, error: OSError) -> socket.socket | None:
    pid = os.getpid()
    if port != 0 and error.errno == errno.EADDRINUSE:
        with contextlib.suppress(OSError):
            sock = open_listener(host, 0)
            why = "is this app's own port" if _held_here(port) else "is taken"
            log.warning(
                "loadtui: metrics port %d %s; the sidecar of pid %d listens on %s instead",
                port,
                why,
                pid,
                _address(host, sock.getsockname()[1]),
            )
            return sock
    log.warning(
        "loadtui: pid %d serves without a metrics sidecar: cannot listen on %s: %s",
        pid,
        _address(host, port),
        os.strerror(error.errno) if error.errno else error,
    )
    return None


def _held_here(port: int) -> bool:
    """Does this process hold a TCP socket on ``port``: a worker's app socket, inherited from
    uvicorn's supervisor (bound, not yet listening while the lifespan runs) or gunicorn's?

    The sidecar's own SO_REUSEADDR (needed to rebind a fixed port after a restart) would let it
    bind such a socket's port too, and take the app's connections.
    """
    for name in _fd_names():
        with contextlib.suppress(OSError, ValueError):
            fd = int(name)
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            with socket.socket(fileno=os.dup(fd)) as sock:
                inet = sock.family in (socket.AF_INET, socket.AF_INET6)
                if inet and sock.type == socket.SOCK_STREAM and sock.getsockname()[1] == port:
                    return True
    return False


def _fd_names() -> list[str]:
    for directory in ("/proc/self/fd", "/dev/fd"):
        with contextlib.suppress(OSError):
            return os.listdir(directory)
    return []


class AppPortHint(logging.Filter):
    """Say why when the app cannot listen on the port the sidecar holds.

    A single uvicorn process runs the lifespan (which starts the sidecar) before it binds the
    app's own socket: given the app's port as ``metrics_port``, the sidecar wins and uvicorn
    logs a bare "address already in use". This filter, on uvicorn's error logger while the
    sidecar runs, turns that line into one that names the cause and the option.
    """

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.msg
        if (
            isinstance(error, OSError)
            and error.errno == errno.EADDRINUSE
            and f", {self.port})" in str(error)
        ):
            record.msg = (
                f"loadtui: the app cannot listen on port {self.port}: its own metrics sidecar "
                f"holds it; give instrument(app, metrics_port=...) another port"
            )
            record.args = ()
        return True
