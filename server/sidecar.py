"""A small threaded HTTP server beside the app, outside its event loop.

It keeps answering while the loop is blocked: ``GET /metrics`` (Prometheus text) and
``GET /stalls`` (JSON). Each request is served by a thread of its own.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .metrics import CONTENT_TYPE

Responder = Callable[[], tuple[bytes, str]]


class _Handler(BaseHTTPRequestHandler):
    server: _SidecarServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        responder = self.server.routes.get(self.path.partition("?")[0])
        if responder is None:
            body, ctype, status = b'{"error": "not found"}', "application/json", 404
        else:
            (body, ctype), status = responder(), 200
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _SidecarServer(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, Responder]


class Sidecar:
    def __init__(
        self,
        host: str,
        port: int,
        metrics: Callable[[], bytes],
        stalls: Callable[[], list[dict[str, object]]],
    ) -> None:
        self._server = _SidecarServer((host, port), _Handler)
        self._server.routes = {
            "/metrics": lambda: (metrics(), CONTENT_TYPE),
            "/stalls": lambda: (json.dumps({"stalls": stalls()}).encode(), "application/json"),
        }
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="loadtui-sidecar",
            daemon=True,
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
