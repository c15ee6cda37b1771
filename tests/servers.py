"""Small real servers on loopback, in the test's own process: raw sockets that answer with the
exact bytes a test gives (and record what arrives), and threaded TCP servers whose behaviour on
``ROUTE`` a test writes (the probe's own requests to other paths get a quick 404, so that only
the engine meets a fault)."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator

ROUTE = b"/fault"

Answer = Callable[[socket.socket], bool]  # answers one request; False: close the connection
Behaviour = Callable[[socket.socket], None]  # handles one accepted connection


class RawServer:
    """A loopback server that records what arrives and answers with ``answer`` bytes."""

    def __init__(self, answer: bytes, host: str = "127.0.0.1") -> None:
        self.answer = answer
        self.received: list[bytes] = []
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.create_server((host, 0), family=family)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            while data := conn.recv(65536):
                self.received.append(data)
                conn.sendall(self.answer)
                if b"Connection: close" in self.answer:
                    return


def read_requests(sock: socket.socket) -> Iterator[bytes]:
    """The path of each request head on ``sock`` (GETs: no bodies), until the peer closes."""
    buffer = b""
    while True:
        head, found, rest = buffer.partition(b"\r\n\r\n")
        if found:
            buffer = rest
            yield head.split(b" ", 2)[1]
            continue
        data = sock.recv(65536)
        if not data:
            return
        buffer += data


def response(status: str, body: bytes = b"", *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


NOT_FOUND = response("404 Not Found")


def on_route(answer: Answer) -> Behaviour:
    """Answer requests to ROUTE with ``answer``, any other path with a 404."""

    def behaviour(sock: socket.socket) -> None:
        for path in read_requests(sock):
            if path != ROUTE:
                sock.sendall(NOT_FOUND)
            elif not answer(sock):
                return

    return behaviour


def sending(data: bytes) -> Answer:
    """Send ``data`` and keep the connection open: closing it, if due, is the client's job."""

    def answer(sock: socket.socket) -> bool:
        sock.sendall(data)
        return True

    return answer


class _Handler(socketserver.BaseRequestHandler):
    server: _BehavingServer

    def handle(self) -> None:
        with contextlib.suppress(OSError):  # the engine aborts connections it gives up on
            self.server.behaviour(self.request)


class _BehavingServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # socketserver's 5 drops SYNs when users reconnect together

    def __init__(self, behaviour: Behaviour) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behaviour = behaviour


@contextlib.contextmanager
def serving(behaviour: Behaviour) -> Iterator[int]:
    """A server on a free loopback port, on a thread, that handles each connection with
    ``behaviour``; yields its port."""
    server = _BehavingServer(behaviour)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
