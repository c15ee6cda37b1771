"""A stream server for the stream benchmarks: every request (keep-alive, any path) is answered
with a chunked ``text/event-stream`` of ``--events`` small events, each its own chunk, written
one loop turn apart (so that with many connections they mostly arrive in reads of their own),
or all at once with ``--burst``. Raw asyncio on uvloop: cheap enough that the generator, not
this server, is what a benchmark measures.

    python -m benchmarks.sse_server --port 18930 --events 100 [--burst]
"""

from __future__ import annotations

import argparse
import asyncio

import uvloop

HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)


def frames(events: int) -> list[bytes]:
    found = []
    for number in range(events):
        event = b"data: %d\n\n" % number
        found.append(b"%x\r\n%s\r\n" % (len(event), event))
    return found


class Streams(asyncio.Protocol):
    def __init__(self, events: list[bytes], burst: bool) -> None:
        self.events = events
        self.burst = burst
        self.transport: asyncio.Transport | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:  # GETs: a head, no body
            _, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            self._answer()

    def _answer(self) -> None:
        assert self.transport is not None
        if self.burst:
            self.transport.write(HEAD + b"".join(self.events) + b"0\r\n\r\n")
            return
        self.transport.write(HEAD)
        loop = asyncio.get_running_loop()
        loop.call_soon(self._send, 0)

    def _send(self, index: int) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if index == len(self.events):
            transport.write(b"0\r\n\r\n")
            return
        transport.write(self.events[index])
        asyncio.get_running_loop().call_soon(self._send, index + 1)


async def serve(port: int, events: int, burst: bool) -> None:
    loop = asyncio.get_running_loop()
    found = frames(events)
    server = await loop.create_server(lambda: Streams(found, burst), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=18930)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--burst", action="store_true")
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.events, args.burst))


if __name__ == "__main__":
    main()
