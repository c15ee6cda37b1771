"""loadtui.engine.streams and the transport's side of it, fed bytes as a socket would hand them
(split anywhere): SSE events counted exactly, pieces and gaps, chunks, the bounds (too_large),
the first byte's time. No process or socket."""

from __future__ import annotations

import pytest

from loadtui.engine import streams
from loadtui.engine.streams import SseEvents, Stream, TooLarge
from loadtui.engine.transport import HttpConnection

# 5 events: LF, CRLF and CR line ends, several data lines in one, a bare "data" field, comments,
# other fields and a blank line with no data before it (none of which is an event)
SSE = (
    b": a comment, then an event with two data lines\n"
    b"data: one\ndata: more\n\n"
    b"event: tick\r\ndata: two\r\n\r\n"
    b"id: 7\n\n"  # no data: no event
    b"data\n\n"  # a data field with no value is still one
    b"retry: 10\rdata: four\r\r"
    b":keep-alive\n\n"
    b"data:five\n\n"
    b"data: never ended"  # not dispatched: no blank line yet
)
EVENTS = 5


def count(pieces: list[bytes]) -> int:
    counter = SseEvents()
    for piece in pieces:
        counter.feed(piece)
    return counter.events


def test_events_are_counted_in_one_piece():
    assert count([SSE]) == EVENTS


@pytest.mark.parametrize("cut", range(1, len(SSE)))
def test_events_are_counted_whatever_the_split_into_two_reads(cut: int):
    assert count([SSE[:cut], SSE[cut:]]) == EVENTS


def test_events_are_counted_a_byte_at_a_time():
    assert count([SSE[i : i + 1] for i in range(len(SSE))]) == EVENTS


def test_a_crlf_split_between_reads_ends_one_line_not_two():
    # were the LF after a CR at the end of a read taken as a second line end, "data: a" would be
    # dispatched on its own and "data: b" counted as a second event
    assert count([b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]) == 1


@pytest.mark.parametrize(
    ("pieces", "events"),
    [
        ([b"data: 1\n\n", b"data: 2\n\n", b": c\n\n", b"data: 3\n", b"\n", b"data: 4\n\n"], 4),
        ([b"data: a\n", b"data: b\n\n"], 1),  # one event of two data lines
        ([b"id: 1\n", b"data: x\n\n"], 1),
        ([b"data: a\r", b"\ndata: b\n\n"], 1),  # the CR's LF begins the next piece
        ([b"dat", b"a: a\n\n", b"data: b\n\n"], 2),
        ([b"data: a\n\ndata: b\n\n", b"data: c\n\n"], 3),
    ],
)
def test_whole_events_a_piece_each_and_split_ones_count_alike(pieces: list[bytes], events: int):
    assert count(pieces) == events


def test_memory_is_bounded_on_a_line_that_never_ends():
    counter = SseEvents()
    piece = b"x" * 65536
    counter.feed(b"data: ")
    with pytest.raises(TooLarge):
        for _ in range(streams.MAX_EVENT_BYTES // len(piece) + 2):
            counter.feed(piece)
            assert len(counter._line) <= 5  # only the start of the line is kept


def test_an_event_of_many_lines_is_bounded_as_a_whole():
    line = b"data: " + b"y" * 65530 + b"\n"
    counter = SseEvents()
    with pytest.raises(TooLarge):
        for _ in range(streams.MAX_EVENT_BYTES // len(line) + 2):
            counter.feed(line)
    counter = SseEvents()
    for _ in range(streams.MAX_EVENT_BYTES // len(line) + 2):  # each line its own event
        counter.feed(line + b"\n")
    assert counter.events == streams.MAX_EVENT_BYTES // len(line) + 2


def test_pieces_give_gaps_between_reads_not_between_calls():
    gaps: list[int] = []
    stream = Stream(sse=True, chunked=True, on_gap=gaps.append)
    stream.chunk_bytes = 0
    stream.piece(b"data: 1\n\n", 1.0)
    stream.chunk_bytes = 0
    stream.piece(b"data: 2\n\n", 1.0)  # the same read: no gap
    stream.chunk_bytes = 0
    stream.piece(b"data: 3\n\n", 1.25)
    stream.chunk_bytes = 0
    stream.piece(b"data: 4\n\n", 2.25)
    assert gaps == [250_000, 1_000_000]
    assert (stream.first, stream.last, stream.events, stream.chunks) == (1.0, 2.25, 4, 4)


def test_a_chunk_beyond_its_bound_is_too_large():
    stream = Stream(sse=False, chunked=True, on_gap=lambda _: None)
    stream.chunk_bytes = 0
    piece = b"z" * 2**20
    with pytest.raises(TooLarge):
        for _ in range(streams.MAX_CHUNK_BYTES // len(piece) + 1):
            stream.piece(piece, 1.0)
    assert stream.chunks == 1


# ---- the transport, fed as a socket feeds it -------------------------------------------------
class Owner:
    def __init__(self) -> None:
        self.ended: list[object] = []
        self.gaps: list[int] = []

    def on_response(self, status: int) -> None:
        self.ended.append(status)

    def on_failure(self, kind: str) -> None:
        self.ended.append(kind)

    def on_gap(self, microseconds: int) -> None:
        self.gaps.append(microseconds)


class Transport:
    """Enough of an asyncio transport for HttpConnection: it only writes and aborts."""

    def __init__(self) -> None:
        self.closing = False

    def write(self, _data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.closing = True


def connection() -> tuple[HttpConnection, Owner]:
    owner = Owner()
    conn = HttpConnection(owner)
    conn.connection_made(Transport())  # type: ignore[arg-type]
    assert conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    return conn, owner


def test_a_plain_response_has_a_first_byte_and_no_stream():
    conn, owner = connection()
    assert conn.first_byte == 0.0
    conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n")
    first = conn.first_byte
    assert first > 0
    conn.data_received(b"ok")
    assert conn.first_byte == first and conn.stream is None and owner.ended == [200]
    assert conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") and conn.first_byte == 0.0


SSE_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"


@pytest.mark.parametrize(
    ("head", "events", "chunks"),
    [
        (SSE_HEAD + b"Transfer-Encoding: chunked\r\n\r\n", EVENTS, 3),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 3),  # chunks, not SSE
    ],
)
def test_a_streaming_response_is_read_piece_by_piece(head: bytes, events: int, chunks: int):
    conn, owner = connection()
    thirds = [
        SSE[: len(SSE) // 3],
        SSE[len(SSE) // 3 : 2 * len(SSE) // 3],
        SSE[2 * len(SSE) // 3 :],
    ]
    conn.data_received(head)
    for part in thirds:
        conn.data_received(b"%x\r\n%s\r\n" % (len(part), part))
    conn.data_received(b"0\r\n\r\n")
    stream = conn.stream
    assert stream is not None and owner.ended == [200]
    assert (stream.events, stream.chunks, len(owner.gaps)) == (events, chunks, 2)
    assert conn.first_byte < stream.first < stream.last


def test_an_sse_response_ended_by_closing_is_a_stream_too():
    conn, owner = connection()
    conn.data_received(SSE_HEAD + b"\r\n" + SSE[:100])
    conn.data_received(SSE[100:] + b"\n\n")
    conn.connection_lost(None)
    assert owner.ended == [200] and conn.stream is not None
    assert conn.stream.events == EVENTS + 1  # "never ended" is, now


def test_a_chunk_size_of_2_to_the_63_is_too_large_not_a_wait():
    conn, owner = connection()
    conn.data_received(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8000000000000000\r\n")
    piece = b"z" * 2**20
    for _ in range(streams.MAX_CHUNK_BYTES // len(piece) + 1):
        conn.data_received(piece)
        if owner.ended:
            break
    assert owner.ended == ["too_large"] and not conn.open_for_requests


def test_a_head_response_saying_it_streams_is_no_stream():
    owner = Owner()
    conn = HttpConnection(owner)
    conn.connection_made(Transport())  # type: ignore[arg-type]
    assert conn.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
    conn.data_received(SSE_HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
    assert owner.ended == [200] and conn.stream is None
