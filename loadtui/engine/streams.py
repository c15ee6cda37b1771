"""A response that streams (Server-Sent Events, or a chunked body), read piece by piece: when each
piece arrived, how many HTTP chunks and SSE events it carried.

Kept only for a response whose head says it streams, so a plain response costs nothing here.
Nothing is buffered: SSE events are counted as their lines pass, keeping at most the first bytes
of a line split across reads; an event or a chunk beyond its bound is the error ``too_large``.
"""

from __future__ import annotations

from collections.abc import Callable

MAX_EVENT_BYTES = 16 * 2**20  # one SSE event
MAX_CHUNK_BYTES = 16 * 2**20  # one HTTP chunk (its size line may say 2^63)
_PREFIX = 5  # of a line split across reads, what is kept: enough to tell "data:" and a blank


class TooLarge(Exception):
    """An SSE event or an HTTP chunk beyond its bound."""


class SseEvents:
    """Counts the events of a ``text/event-stream`` body fed in pieces as they arrive: an event
    is a block of lines with at least one ``data`` field, dispatched by a blank line (WHATWG
    HTML, "event stream interpretation"); comments and other fields alone are not events. Lines
    end with CRLF, LF or CR, and a piece may end anywhere, a CRLF included."""

    __slots__ = ("_after_cr", "_clean", "_data", "_line", "_pending", "events")

    def __init__(self) -> None:
        self.events = 0
        self._line = b""  # the start of the line the last piece ended in
        self._data = False  # the event being read has a data field
        self._after_cr = False  # the last piece ended in CR (its LF may start the next)
        self._pending = 0  # the bytes of the event being read
        self._clean = True  # at the start of a line, no data field read since the last event

    def feed(self, piece: bytes) -> None:
        """Count what ``piece`` completes; TooLarge when the event read exceeds its bound."""
        if (
            self._clean
            and piece[:5] == b"data:"
            and piece[-2:] == b"\n\n"
            and piece.count(b"\n\n") == 1
            and b"\r" not in piece
        ):  # the common case, one whole event (a chunk each), without splitting it into lines
            self.events += 1
            self._pending = 0
            return
        self._feed_lines(piece)

    def _feed_lines(self, piece: bytes) -> None:
        if self._after_cr and piece[:1] == b"\n":
            piece = piece[1:]
        self._after_cr = piece[-1:] == b"\r"
        if b"\r" in piece:
            piece = piece.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = piece.split(b"\n")
        rest = lines.pop()
        pending = self._pending
        if lines:
            lines[0] = self._line + lines[0]
            self._line = rest[:_PREFIX]
        else:
            self._line = (self._line + rest)[:_PREFIX]
        for line in lines:
            pending += len(line) + 1
            if not line:
                if self._data:
                    self.events += 1
                    self._data = False
                pending = 0
            elif line[:5] == b"data:" or line == b"data":
                self._data = True
        pending += len(rest)
        if pending > MAX_EVENT_BYTES:
            raise TooLarge
        self._pending = pending
        self._clean = not (self._line or self._data or self._after_cr)


class Stream:
    """One streaming response being read. Each read that brings body bytes is a piece; the time
    between two pieces is a gap, handed to ``on_gap`` in microseconds as it is seen."""

    __slots__ = ("chunk_bytes", "chunked", "chunks", "first", "last", "on_gap", "sse")

    def __init__(self, sse: bool, chunked: bool, on_gap: Callable[[int], None]) -> None:
        self.sse = SseEvents() if sse else None
        self.chunked = chunked
        self.on_gap = on_gap
        self.first = 0.0  # when the first piece arrived (0: none yet)
        self.last = 0.0  # ... and the newest
        self.chunks = 0  # HTTP chunks with data (a chunked body)
        self.chunk_bytes = 0  # ... of the chunk being read

    @property
    def events(self) -> int:
        return self.sse.events if self.sse is not None else 0

    def piece(self, body: bytes, at: float) -> None:
        """Body bytes read at ``at`` (several calls for one read carry the same ``at``)."""
        if at != self.last:
            if self.last:
                self.on_gap(int((at - self.last) * 1e6))
            else:
                self.first = at
            self.last = at
        if self.chunked:
            if not self.chunk_bytes:
                self.chunks += 1
            self.chunk_bytes += len(body)
            if self.chunk_bytes > MAX_CHUNK_BYTES:
                raise TooLarge
        if self.sse is not None:
            self.sse.feed(body)
