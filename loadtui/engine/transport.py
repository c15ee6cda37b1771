"""A lean HTTP/1.1 client connection for the engine's hot path.

One ``asyncio.Protocol`` per connection, responses parsed by ``httptools`` (the parser uvicorn
uses), request bytes built once per distinct request. Bodies are parsed and dropped. No future
or task per request: the outcome of each request goes straight to the connection's owner
(``on_response`` or ``on_failure``), which may send the next request from inside that call.
See ``benchmarks/client_cost.py`` for what it costs beside wrk and Locust.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ssl
import time
from collections.abc import Callable
from typing import Protocol

import httptools

from loadtui.engine.streams import Stream, TooLarge

clock = time.perf_counter  # the engine's clock (``loadtui.workers``)
SSE = b"text/event-stream"
CONNECT_ERRORS = {
    errno.ECONNREFUSED: "refused",
    errno.ECONNRESET: "disconnect",
    errno.ETIMEDOUT: "timeout",
    errno.EMFILE: "emfile",  # out of file descriptors: loadtui's limit, not the server's fault
    errno.ENFILE: "emfile",
}


class RequestFailed(Exception):
    """A request that got no complete HTTP response; ``kind`` names why."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class RequestOwner(Protocol):
    """Whoever sent the request in flight on a connection: told once how it ended."""

    def on_response(self, status: int) -> None:
        """The whole final response is in (the connection is already closed if it was the
        server's last); it ended at the connection's ``read_at``."""

    def on_failure(self, kind: str) -> None:
        """No complete response: the connection is closed; ``kind`` names why."""

    def on_gap(self, microseconds: int) -> None:
        """A streaming response's body went this long between two pieces."""


async def connect(
    host: str,
    port: int,
    owner: RequestOwner,
    tls: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    protocol: Callable[[RequestOwner], HttpConnection] | None = None,
) -> HttpConnection:
    """A new connection reporting to ``owner``, TLS when given a context; RequestFailed if
    none could be opened (a failed handshake is the kind ``tls``).

    No timeout of its own: the caller's deadline cancels it. ``protocol``: how to make the
    connection (a :class:`CookieConnection`, say); a plain HttpConnection by default.
    """
    loop = asyncio.get_running_loop()
    make = protocol or HttpConnection
    try:
        if tls is None:
            _, conn = await loop.create_connection(lambda: make(owner), host, port)
        else:
            _, conn = await loop.create_connection(
                lambda: make(owner),
                host,
                port,
                ssl=tls,
                server_hostname=server_hostname or "",
            )
    except ssl.SSLError:
        raise RequestFailed("tls") from None
    except OSError as exc:
        raise RequestFailed(CONNECT_ERRORS.get(exc.errno or 0, "connect_error")) from None
    return conn


class HttpConnection(asyncio.Protocol):
    """One TCP connection; one request at a time, kept alive between requests."""

    def __init__(self, owner: RequestOwner) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiting = False  # a request is out and its response not complete yet
        self._headers_done = False  # ... and its response's head is in
        self._framed = False  # ... with a length (or chunks); else its body ends at close
        self._head = False  # ... to a HEAD request: no body follows, whatever the head says
        self._chunked = False  # ... its body is chunked
        self._type_name = self._type = b""  # ... its Content-Type, perhaps (a 12-byte name)
        # on ``clock`` (the engine's): the response's first byte (0: none yet), and the newest
        # read (once the response is complete: the read that brought its last byte)
        self.first_byte = self.read_at = 0.0
        self.stream: Stream | None = None  # the response streams: read piece by piece

    @property
    def open_for_requests(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def send(self, payload: bytes) -> bool:
        """Send one request; False (nothing sent) if the connection is no longer open."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return False
        self._waiting = True
        self._headers_done = self._framed = self._chunked = False
        self._type = b""
        self.first_byte = 0.0
        self.stream = None
        self._head = payload.startswith(b"HEAD ")
        transport.write(payload)
        return True

    def become(self, kind: Callable[[RequestOwner], HttpConnection]) -> HttpConnection:
        """This connection, between two requests, as a new protocol object of ``kind`` (the
        same socket, handed over): what a journey's next request needs kept of its response."""
        successor = kind(self.owner)
        transport = self.transport
        if transport is not None:
            transport.set_protocol(successor)
            successor.transport = transport
            self.transport = None
        return successor

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
            self.owner.on_failure(kind)

    # ---- asyncio.Protocol ------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.read_at = clock()
        if not self.first_byte:
            self.first_byte = self.read_at
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, TooLarge):
                self._fail("too_large")
                return
            raise exc.__context__ or exc from None  # a bug of ours, not the server's
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):  # Upgrade: an unasked 101
            self._fail("bad_response")

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._waiting and self._headers_done and not self._framed and exc is None:
            # no length given: the body ended with the connection (RFC 9112 6.3)
            self._waiting = False
            self.read_at = clock()
            self.owner.on_response(self._parser.get_status_code())
            return
        self._fail("disconnect")

    # ---- httptools callbacks -----------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name)
        if size == 14 or size == 17:
            name = name.lower()
            if name == b"content-length":
                self._framed = True
            elif name == b"transfer-encoding":
                self._framed = True
                self._chunked = b"chunked" in value.lower()
        elif size == 12:  # perhaps Content-Type: looked at only if the body may stream
            self._type_name = name
            self._type = value

    def on_headers_complete(self) -> None:
        self._headers_done = True
        if not self._head:
            if self._chunked or not self._framed:  # a body of no length known up front
                self._stream_begins()
        else:  # httptools cannot be told that no body follows: answer now, start afresh
            status = self._parser.get_status_code()
            if status >= 200:
                self._waiting = False
                self.close()
                self.owner.on_response(status)

    def _stream_begins(self) -> None:
        """A chunked body, or a ``text/event-stream`` one, is a stream: read piece by piece."""
        sse = self._type[:17].lower() == SSE and self._type_name.lower() == b"content-type"
        if (sse or self._chunked) and self._parser.get_status_code() >= 200:
            self.stream = Stream(sse, self._chunked, self.owner.on_gap)

    def on_chunk_header(self) -> None:
        if self.stream is not None:
            self.stream.chunk_bytes = 0  # a chunk begins

    def on_body(self, body: bytes) -> None:
        if self.stream is not None:
            self.stream.piece(body, self.read_at)

    def on_message_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200 or not self._waiting:  # interim (1xx): the final response is to come
            return
        self._waiting = False
        if not self._parser.should_keep_alive():
            with contextlib.suppress(Exception):
                self.close()
        self.owner.on_response(status)


class CookieConnection(HttpConnection):
    """A connection that keeps the Set-Cookie headers of each response (a journey's user with a
    cookie jar). Whoever reads what was kept empties it (``clear``) before the next response."""

    def __init__(self, owner: RequestOwner) -> None:
        super().__init__(owner)
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()
        self.body_whole = True

    def clear(self) -> None:
        self.headers = []
        self.body = bytearray()
        self.body_whole = True

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) != 10:  # HttpConnection looks at no header of Set-Cookie's length
            HttpConnection.on_header(self, name, value)
        elif name[0] in b"Ss" and name.lower() == b"set-cookie":
            self.headers.append((name, value))


class CapturingConnection(CookieConnection):
    """A connection that keeps each response's headers and body (a journey's step that
    extracts)."""

    MAX_BODY = 1024 * 1024  # a body kept for extraction; beyond it, nothing is found

    def on_header(self, name: bytes, value: bytes) -> None:
        HttpConnection.on_header(self, name, value)
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        HttpConnection.on_body(self, body)
        if len(self.body) + len(body) > self.MAX_BODY:
            self.body_whole = False
        else:
            self.body += body
