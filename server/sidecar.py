"""A small HTTP server beside the app, outside its event loop, on a few threads of its own.

It keeps answering while the loop is blocked. It serves GET requests from a mapping of
path -> responder and knows nothing about what the responders return.

Built to sit inside someone's production app:
- bounded threads: one thread accepts connections and waits, with a selector, until a client has
  sent something; only then does one of ``WORKERS`` threads read and answer it. Connections that
  stay silent cost a file descriptor, not a thread, and are closed after ``READ_TIMEOUT_S``
  (at most ``MAX_WAITING`` are kept; beyond that the oldest is dropped);
- a total deadline for reading a request, whatever the client trickles;
- one request per connection (``Connection: close``), so no thread waits on an idle keep-alive;
- a client that hangs up early is dropped silently: no traceback on the app's stderr;
- long polls (a :class:`Feed`, e.g. ``/stalls/wait``) hold no thread while they wait: a request
  with nothing new to hear yet is parked (a file descriptor) until the feed has news
  (:meth:`Sidecar.notify`) or ``FEED_WAIT_S`` pass, then a worker answers it. At most
  ``MAX_PARKED`` wait at once; beyond that a request is answered 503 at once.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

Responder = Callable[[str], tuple[bytes, str]]  # (query string) -> (body, content type)


class Feed(Protocol):
    """A route whose answer may wait for news: a long poll. Asked with the request's query
    string, from the sidecar's threads."""

    def ready(self, query: str) -> bool: ...  # answer now, or wait for news

    def answer(self, query: str) -> tuple[bytes, str]: ...  # (body, content type)


WORKERS = 4
READ_TIMEOUT_S = 2.0
MAX_WAITING = 64  # silent connections kept open, and requests queued for a worker
MAX_HEAD_BYTES = 8192
FEED_WAIT_S = 5.0  # a long poll with no news is answered after this (and at most 0.5 s more)
MAX_PARKED = 8  # long polls waiting at once
_JSON = "application/json"
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Error",
    503: "Service Unavailable",
}


def _response(status: int, content_type: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def _error(status: int, message: str) -> bytes:
    return _response(status, _JSON, b'{"error": "' + message.encode("ascii") + b'"}')


@dataclass(eq=False)  # each one is itself
class _Parked:
    """A long poll waiting for news, its request read."""

    conn: socket.socket
    feed: Feed
    query: str
    until: float  # answered by then, news or not (monotonic)


class Sidecar:
    def __init__(
        self,
        sock: socket.socket,
        routes: Mapping[str, Responder],
        feeds: Mapping[str, Feed] | None = None,
    ) -> None:
        """``sock``: bound and listening; the sidecar owns it from now on."""
        self._listener = sock
        self._routes = dict(routes)
        self._feeds = dict(feeds or {})
        self._listener.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._wake_read, self._wake_write = socket.socketpair()
        for end in (self._wake_read, self._wake_write):
            end.setblocking(False)
        self._waiting: dict[socket.socket, float] = {}  # silent connection -> accepted at
        self._parked: list[_Parked] = []
        self._parked_lock = threading.Lock()
        self._queued = 0
        self._queued_lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="loadtui-sidecar")
        self._thread = threading.Thread(
            target=self._accept_loop, name="loadtui-sidecar", daemon=True
        )

    @property
    def host(self) -> str:
        return str(self._listener.getsockname()[0])

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def start(self) -> None:
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._selector.register(self._wake_read, selectors.EVENT_READ)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.notify()
        self._thread.join(2.0)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def notify(self) -> None:
        """A feed has news: its parked requests are answered. Cheap, from any thread."""
        with contextlib.suppress(OSError):  # BlockingIOError: a wake-up is pending already
            self._wake_write.send(b"x")

    # ---- the accepting thread --------------------------------------------------------------
    def _accept_loop(self) -> None:
        try:
            while not self._stop.is_set():
                for key, _events in self._selector.select(timeout=READ_TIMEOUT_S / 4):
                    if key.fileobj is self._listener:
                        self._accept()
                    elif key.fileobj is self._wake_read:
                        self._drain_wake()
                    elif key.fileobj in self._waiting:  # not dropped earlier in this round
                        self._dispatch(key.fileobj)  # type: ignore[arg-type]
                now = time.monotonic()
                self._drop_silent(now - READ_TIMEOUT_S)
                self._release_parked(now)
        finally:
            self._close_all()

    def _accept(self) -> None:
        while True:
            try:
                conn, _address = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # out of file descriptors, or the like: try again on the next event
                return
            if len(self._waiting) >= MAX_WAITING:
                self._forget(next(iter(self._waiting)))
            self._waiting[conn] = time.monotonic()
            self._selector.register(conn, selectors.EVENT_READ)

    def _dispatch(self, conn: socket.socket) -> None:
        self._selector.unregister(conn)
        del self._waiting[conn]
        self._submit(conn, self._serve, conn)

    def _submit(self, conn: socket.socket, work: Callable[..., None], *args: object) -> None:
        """``work(*args)`` on a worker thread, unless too much is queued (then ``conn`` is
        closed): every submitted piece of work ends by counting itself out (``_done``)."""
        with self._queued_lock:
            full = self._queued >= MAX_WAITING
            if not full:
                self._queued += 1
        if full:
            conn.close()
            return
        self._pool.submit(work, *args)

    def _done(self) -> None:
        with self._queued_lock:
            self._queued -= 1

    def _drain_wake(self) -> None:
        with contextlib.suppress(OSError):
            while self._wake_read.recv(4096):
                pass

    def _release_parked(self, now: float) -> None:
        """Hand every parked long poll that has news, or has waited long enough, to a worker."""
        with self._parked_lock:
            due = [p for p in self._parked if now >= p.until or p.feed.ready(p.query)]
            self._parked = [p for p in self._parked if p not in due]
        for parked in due:
            self._submit(parked.conn, self._answer_parked, parked)

    def _drop_silent(self, accepted_before: float) -> None:
        for conn, accepted in list(self._waiting.items()):
            if accepted >= accepted_before:
                break  # accepted in order: the rest are younger
            self._forget(conn)

    def _forget(self, conn: socket.socket) -> None:
        self._selector.unregister(conn)
        del self._waiting[conn]
        conn.close()

    def _close_all(self) -> None:
        for conn in list(self._waiting):
            self._forget(conn)
        with self._parked_lock:
            parked, self._parked = self._parked, []
        for waiting in parked:
            waiting.conn.close()
        self._selector.close()
        for sock in (self._listener, self._wake_read, self._wake_write):
            sock.close()

    # ---- the worker threads ----------------------------------------------------------------
    def _serve(self, conn: socket.socket) -> None:
        parked = False
        try:
            conn.setblocking(True)
            deadline = time.monotonic() + READ_TIMEOUT_S
            head = _read_head(conn, deadline)
            if head is None:
                return  # hung up, or too slow
            conn.settimeout(max(0.05, deadline - time.monotonic()))
            request = _request(head)
            if isinstance(request, bytes):
                conn.sendall(request)
                return
            path, query = request
            feed = self._feeds.get(path)
            if feed is not None and not feed.ready(query):
                parked = self._park(conn, feed, query)
                if not parked:
                    conn.sendall(_error(503, "busy: too many waiting"))
                return
            conn.sendall(self._respond(path, query))
        except OSError:
            pass  # the client hung up or stalled: nothing to tell anyone
        finally:
            if not parked:
                conn.close()
            self._done()

    def _park(self, conn: socket.socket, feed: Feed, query: str) -> bool:
        """Keep ``conn`` until ``feed`` has news for it; False when too many wait already."""
        with self._parked_lock:
            if len(self._parked) >= MAX_PARKED:
                return False
            self._parked.append(_Parked(conn, feed, query, time.monotonic() + FEED_WAIT_S))
        self.notify()  # the accepting thread looks again: news may have come meanwhile
        return True

    def _answer_parked(self, parked: _Parked) -> None:
        try:
            with parked.conn as conn:
                conn.settimeout(READ_TIMEOUT_S)
                conn.sendall(self._respond_feed(parked.feed, parked.query))
        except OSError:
            pass
        finally:
            self._done()

    def _respond(self, path: str, query: str) -> bytes:
        feed = self._feeds.get(path)
        if feed is not None:
            return self._respond_feed(feed, query)
        responder = self._routes.get(path)
        if responder is None:
            return _error(404, "not found")
        return _answer(lambda: responder(query))

    @staticmethod
    def _respond_feed(feed: Feed, query: str) -> bytes:
        return _answer(lambda: feed.answer(query))


def _request(head: bytes) -> tuple[str, str] | bytes:
    """(path, query) of a GET, or the error response to send."""
    request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return _error(400, "bad request")
    method, target, _version = parts
    if method != "GET":
        return _error(405, "only GET")
    path, _, query = target.partition("?")
    return path, query


def _answer(responder: Callable[[], tuple[bytes, str]]) -> bytes:
    try:
        body, content_type = responder()
    except Exception as exc:  # a responder's bug: say it to the client, keep serving
        return _response(500, _JSON, f'{{"error": "{type(exc).__name__}"}}'.encode())
    return _response(200, content_type, body)


def _read_head(conn: socket.socket, deadline: float) -> bytes | None:
    """The request line and headers, or None when the client hangs up or misses the deadline."""
    data = b""
    while b"\r\n\r\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or len(data) > MAX_HEAD_BYTES:
            return None
        conn.settimeout(remaining)
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
    return data
