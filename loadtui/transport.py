"""A lean HTTP/1.1 client connection for the engine's hot path.

One ``asyncio.Protocol`` per connection, responses parsed by ``httptools`` (the parser uvicorn
uses), request bytes built once per distinct request. Bodies are parsed and dropped. No future
or task per request: the outcome of each request goes straight to the connection's listener
(``on_response`` or ``on_failure``), which may send the next request from inside that call.
See ``benchmarks/client_cost.py`` for what it costs beside wrk and Locust.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from typing import Protocol

import httptools

from loadtui import __version__

CONNECT_ERRORS = {
    errno.ECONNREFUSED: "refused",
    errno.ECONNRESET: "disconnect",
    errno.ETIMEDOUT: "timeout",
}


class RequestFailed(Exception):
    """A request that got no complete HTTP response; ``kind`` names why."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def build_request(host: str, port: int, path: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        f"User-Agent: loadtui/{__version__}\r\n"
        "Accept: */*\r\n\r\n"
    ).encode("latin-1")


class Listener(Protocol):
    """Whoever sent the request in flight on a connection: told once how it ended."""

    def on_response(self, status: int) -> None:
        """The whole final response is in (the connection is already closed if it was the
        server's last)."""

    def on_failure(self, kind: str) -> None:
        """No complete response: the connection is closed; ``kind`` names why."""


async def connect(host: str, port: int, listener: Listener) -> HttpConnection:
    """A new connection reporting to ``listener``; RequestFailed if none could be opened.

    No timeout of its own: the caller's deadline cancels it.
    """
    loop = asyncio.get_running_loop()
    try:
        _, conn = await loop.create_connection(lambda: HttpConnection(listener), host, port)
    except OSError as exc:
        raise RequestFailed(CONNECT_ERRORS.get(exc.errno or 0, "connect_error")) from None
    return conn


class HttpConnection(asyncio.Protocol):
    """One TCP connection; one request at a time, kept alive between requests."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiting = False  # a request is out and its response not complete yet

    @property
    def open_for_requests(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def send(self, payload: bytes) -> bool:
        """Send one request; False (nothing sent) if the connection is no longer open."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return False
        self._waiting = True
        transport.write(payload)
        return True

    def close(self) -> None:
        """Abort the connection; a request in flight is given up without a report."""
        self._waiting = False
        if self.transport is not None:
            self.transport.abort()
            self.transport = None

    def _fail(self, kind: str) -> None:
        waiting = self._waiting
        self.close()
        if waiting:
            self.listener.on_failure(kind)

    # ---- asyncio.Protocol ------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:  # a bug of ours, not the server's
            raise exc.__context__ or exc from None
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):  # Upgrade: an unasked 101
            self._fail("bad_response")

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._fail("disconnect")

    # ---- httptools callbacks -----------------------------------------------------------
    def on_message_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200 or not self._waiting:  # interim (1xx): the final response is to come
            return
        self._waiting = False
        if not self._parser.should_keep_alive():
            with contextlib.suppress(Exception):
                self.close()
        self.listener.on_response(status)
