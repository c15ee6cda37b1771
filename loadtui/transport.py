"""A lean HTTP/1.1 client connection for the engine's hot path.

One ``asyncio.Protocol`` per connection, responses parsed by ``httptools`` (the parser uvicorn
uses), request bytes built once per target. Bodies are parsed and dropped. Compared with
httpx, AsyncClient-per-user, it costs about a tenth of the CPU per request (see
``benchmarks/client_cost.py``); the probe, which sends a few requests a second, keeps httpx.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno

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


class HttpConnection(asyncio.Protocol):
    """One TCP connection; one request at a time, kept alive between requests."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[int] | None = None

    @classmethod
    async def open(cls, host: str, port: int, timeout: float) -> HttpConnection:
        loop = asyncio.get_running_loop()
        try:
            # not wait_for: on Python 3.11 it runs the connect in a second task per user
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(cls, host, port)
        except TimeoutError:
            raise RequestFailed("timeout") from None
        except OSError as exc:
            raise RequestFailed(CONNECT_ERRORS.get(exc.errno or 0, "connect_error")) from None
        return conn

    @property
    def open_for_requests(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    async def request(self, payload: bytes, deadline: float) -> int:
        """Send ``payload``; the status code once the whole response is in.

        ``deadline`` is on the loop's clock; past it the request fails with "timeout".
        """
        if not self.open_for_requests:
            raise RequestFailed("disconnect")
        waiter = self._waiter = self._loop.create_future()
        timer = self._loop.call_at(deadline, self._time_out, waiter)
        try:
            self.transport.write(payload)  # type: ignore[union-attr]
            return await waiter
        finally:
            timer.cancel()

    def _time_out(self, waiter: asyncio.Future[int]) -> None:
        if not waiter.done():
            waiter.set_exception(RequestFailed("timeout"))
        self.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()
            self.transport = None

    def _fail(self, kind: str) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(RequestFailed(kind))

    # ---- asyncio.Protocol ------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):  # Upgrade: an unasked 101
            self._fail("bad_response")
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._fail("disconnect")

    # ---- httptools callbacks -----------------------------------------------------------
    def on_message_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:  # interim (1xx): the final response is still to come
            return
        waiter, self._waiter = self._waiter, None
        if not self._parser.should_keep_alive():
            with contextlib.suppress(Exception):
                self.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(status)


class Client:
    """A user's way to the target: one connection, reopened when it breaks or closes."""

    def __init__(self, host: str, port: int, payload: bytes, timeout: float) -> None:
        self.host = host
        self.port = port
        self.payload = payload
        self.timeout = timeout
        self._conn: HttpConnection | None = None

    async def get(self) -> int:
        """One request; opening a connection first counts towards its time, as in Locust."""
        deadline = asyncio.get_running_loop().time() + self.timeout
        conn = self._conn
        try:
            if conn is None or not conn.open_for_requests:
                conn = self._conn = await HttpConnection.open(self.host, self.port, self.timeout)
            return await conn.request(self.payload, deadline)
        except RequestFailed:
            self.close()
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
