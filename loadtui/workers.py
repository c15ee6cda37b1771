"""The load engine: a pool of simulated users (or an open-loop arrival schedule) in a process
of its own, with uvloop when available, shipping one interval snapshot per second.

Closed loop (default), like Locust: each user owns one keep-alive connection, sends a
request, waits for the whole response (its latency: send to last byte, connecting included;
the last byte is when the read that brought it began, before loadtui parses it), then thinks
for a uniform random time in [think_min, think_max]. Users start at ``spawn_rate`` per second;
their number can change while running.

Open loop (``rate``): requests are due at fixed intended times, at a constant rate or one that
follows stages (``loadtui/engine/schedule.py``). ``users`` connections take them in order;
when all are busy the next request goes out late. Latency is recorded from the intended time
(coordinated omission corrected) and from the actual send time (uncorrected), and the
lateness itself in a third histogram.

The engine watches itself: its loop lag and its CPU go into every snapshot, so that the
numbers can be flagged when the generator, not the server, is the bottleneck.

How, cheaply: users are callbacks, not tasks. A response completes inside the connection's
``data_received``; the user records it there and, with no think time, sends its next request
at once (no future, no task step, no extra loop iteration). Thinking is one timer. A request's
timeout is a deadline on its user, checked by one timer per user that is re-armed only when it
fires early (at most once per timeout, not once per request). Tasks exist only while a
connection is being opened. ``benchmarks/client_cost.py`` and docs/BENCHMARKS.md have the cost.

This module keeps the name ``workers.py`` (the project's card) as the engine's entry; its parts
are in ``loadtui/engine/``. Elsewhere in loadtui a *worker* is always a server's worker process.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import gc
import itertools
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from multiprocessing.connection import Connection
from typing import Any

import psutil

from loadtui.engine import hdr
from loadtui.engine.journey import Journey, UserJourney
from loadtui.engine.loopback import is_loopback
from loadtui.engine.messages import (
    EngineConfig,
    EngineFailed,
    EngineFinished,
    EngineMessage,
    EngineReady,
    EngineRequest,
    EngineStarted,
    IntervalSnapshot,
    NameInterval,
    StreamInterval,
)
from loadtui.engine.streams import Stream
from loadtui.engine.transport import CookieConnection, HttpConnection, RequestFailed, connect

LAG_PROBE_S = 0.05
FAILURE_BACKOFF_S = 0.05  # a user whose connection failed waits at least this long
TIMER_RESOLUTION_S = 0.001  # uvloop's timers count whole milliseconds
clock = time.perf_counter  # every time in the hot path; snapshots convert to monotonic


def _us(since: float, until: float) -> int:
    return int((until - since) * 1e6)


class _Streams:
    """Streaming responses of an interval (or of one name in it): made when the first is seen."""

    def __init__(self) -> None:
        self.gaps = hdr.Recorder()
        self.first_piece = hdr.Recorder()
        self.duration = hdr.Recorder()
        self.clear()

    def clear(self) -> None:
        for recorder in (self.gaps, self.first_piece, self.duration):
            recorder.reset()
        self.streams = self.events = self.chunks = 0

    def ended(self, stream: Stream, started: float, first_byte: float, done: float) -> None:
        self.streams += 1
        self.events += stream.events
        self.chunks += stream.chunks
        if stream.first:
            self.first_piece.record(_us(started, stream.first))
        self.duration.record(_us(first_byte, done))

    def interval(self) -> StreamInterval | None:
        if not self.streams and not self.gaps.count:
            return None
        return StreamInterval(
            self.streams,
            self.events,
            self.chunks,
            self.gaps.encoded(),
            self.first_piece.encoded(),
            self.duration.encoded(),
        )


class _Counts:
    """Requests, errors by kind, latency and first-byte histograms, streams: of an interval, or
    of one name."""

    def __init__(self) -> None:
        self.latency = hdr.Recorder()
        self.first_byte = hdr.Recorder()
        self.streams: _Streams | None = None
        self.requests = 0
        self.errors: Counter[str] = Counter()

    def record(self, microseconds: int, kind: str | None, to_first_byte: int | None) -> None:
        self.latency.record(microseconds)
        if to_first_byte is not None:
            self.first_byte.record(to_first_byte)
        self.requests += 1
        if kind is not None:
            self.errors[kind] += 1

    def stream_part(self) -> _Streams:
        if self.streams is None:
            self.streams = _Streams()
        return self.streams

    def clear(self) -> None:
        self.latency.reset()
        self.first_byte.reset()
        if self.streams is not None:
            self.streams.clear()
        self.requests = 0
        self.errors = Counter()

    def stream_interval(self) -> StreamInterval | None:
        return self.streams.interval() if self.streams is not None else None


class _Interval(_Counts):
    """Counters and histograms for the interval being measured; emptied, not replaced, at
    each snapshot (fresh histograms every second would fragment the heap over long runs).
    With a mix of named requests, each name's share is counted too."""

    def __init__(self, open_loop: bool, names: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.uncorrected = hdr.Recorder() if open_loop else None
        self.send_lag = hdr.Recorder() if open_loop else None
        self.first_byte_uncorrected = hdr.Recorder() if open_loop else None
        self.by_name = [_Counts() for _ in names] if len(names) > 1 else None
        self.clear()

    def clear(self) -> None:
        super().clear()
        for recorder in (self.uncorrected, self.send_lag, self.first_byte_uncorrected):
            if recorder is not None:
                recorder.reset()
        for counts in self.by_name or ():
            counts.clear()
        self.lag_max = 0.0
        self.last_done: float | None = None  # on ``clock``

    def record_request(
        self, which: int, started: float, done: float, kind: str | None, first_byte: float
    ) -> None:
        """A request sent (or due) at ``started`` ended at ``done``; its response's first byte
        came at ``first_byte`` (0: none came)."""
        microseconds = int((done - started) * 1e6)
        # _Counts.record inlined (the hot path: a call less a request)
        self.latency.record(microseconds)
        to_first = None
        if first_byte:
            to_first = int((first_byte - started) * 1e6)
            self.first_byte.record(to_first)
        self.requests += 1
        if kind is not None:
            self.errors[kind] += 1
        self.last_done = done
        if self.by_name is not None:
            self.by_name[which].record(microseconds, kind, to_first)

    def record_gap(self, which: int, microseconds: int) -> None:
        (self.streams or self.stream_part()).gaps.record(microseconds)
        if self.by_name is not None:
            self.by_name[which].stream_part().gaps.record(microseconds)

    def record_stream(
        self, which: int, stream: Stream, started: float, first_byte: float, done: float
    ) -> None:
        self.stream_part().ended(stream, started, first_byte, done)
        if self.by_name is not None:
            self.by_name[which].stream_part().ended(stream, started, first_byte, done)

    def names(self, names: tuple[str, ...]) -> dict[str, NameInterval] | None:
        if self.by_name is None:
            return None
        return {
            name: NameInterval(
                counts.requests,
                dict(counts.errors),
                hdr.encode(counts.latency.histogram()),
                counts.first_byte.encoded(),
                counts.stream_interval(),
            )
            for name, counts in zip(names, self.by_name, strict=True)
        }


class _Mix:
    """Which request a user sends next: by weight among the names, then the next data row
    (round-robin or at random). One request of one row is simply that request. A journey's
    setup and flow steps weigh nothing: the mix never picks them, their users ask for their
    rows (``row``)."""

    def __init__(self, requests: tuple[EngineRequest, ...]) -> None:
        self.requests = requests
        self.names = tuple(r.name for r in requests)
        self.single = len(requests) == 1 and requests[0].rows == 1
        total = sum(r.weight for r in requests) or 1.0
        self._cumulative = list(itertools.accumulate(r.weight / total for r in requests))
        self._rows = [r.rows for r in requests]
        self._next_row = [0] * len(requests)

    def pick(self) -> tuple[int, bytes]:
        """(which request, its bytes)."""
        if self.single:
            return 0, self.requests[0].payloads[0]
        which = self.choose()
        payloads = self.requests[which].payloads
        return which, payloads[0] if self._rows[which] == 1 else payloads[self.row(which)]

    def choose(self) -> int:
        if len(self.requests) == 1:
            return 0
        return min(bisect.bisect(self._cumulative, random.random()), len(self.requests) - 1)

    def row(self, which: int) -> int:
        rows = self._rows[which]
        if rows == 1:
            return 0
        if self.requests[which].random_order:
            return random.randrange(rows)
        row = self._next_row[which]
        self._next_row[which] = (row + 1) % rows
        return row

    def kind(self, which: int, status: int) -> str | None:
        """None for a success, else the error kind ``http_<status>``."""
        expect = self.requests[which].expect
        ok = status < 400 if expect is None else status in expect
        return None if ok else f"http_{status}"


class _Channel:
    """One connection and the request in flight on it: sends, keeps the deadline, and hands
    each outcome to ``_done``. A closed-loop user or an open-loop connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.loop = engine.loop
        self.conn: HttpConnection | None = None
        self.in_flight = False
        self.which = 0  # which request of the mix is in flight
        self.payload = b""
        self.started = 0.0  # when the request in flight was sent (or its connecting began)
        self.deadline = 0.0
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._connecting: asyncio.Task[None] | None = None
        # a scenario's journey: this user's variables, cookies and place in it
        self.journey = UserJourney(engine.journey) if engine.journey is not None else None
        self._pick = self.journey.pick if self.journey is not None else engine.mix.pick
        # the connection each request's response is parsed by (what it keeps), when any keeps
        self._kinds = engine.kinds

    def send(self) -> None:
        engine = self.engine
        self.which, self.payload = self._pick()
        self.started = clock()
        self.deadline = self.started + engine.timeout
        self.in_flight = True
        engine.in_flight += 1
        if self._deadline_timer is None:
            self._deadline_timer = self.loop.call_later(engine.timeout, self._check_deadline)
        conn = self.conn
        kinds = self._kinds
        if kinds is not None and conn is not None and type(conn) is not kinds[self.which]:
            conn = self.conn = conn.become(kinds[self.which])
        if conn is None or not conn.send(self.payload):
            self.conn = None
            self._connecting = self.loop.create_task(self._connect())

    async def _connect(self) -> None:
        """Open a connection and send on it; connecting counts towards the request's time."""
        engine = self.engine
        config = engine.config
        try:
            conn = await connect(
                config.host,
                config.port,
                self,
                engine.tls,
                engine.server_hostname,
                self._kinds[self.which] if self._kinds is not None else None,
            )
        except RequestFailed as failure:
            self._connecting = None
            self._end(failure.kind, None, clock())
            return
        self._connecting = None
        if conn.send(self.payload):
            self.conn = conn
        else:
            self._end("disconnect", None, clock())

    def _check_deadline(self) -> None:
        self._deadline_timer = None
        if not self.in_flight:
            return  # the next send arms a new one
        remaining = self.deadline - clock()
        if remaining > TIMER_RESOLUTION_S:  # armed for an earlier request: wait for this one's
            self._deadline_timer = self.loop.call_later(remaining, self._check_deadline)
            return
        conn = self.conn  # what it measured (a stream that never ends) is kept
        self._drop_connection()
        self._end("timeout", conn, clock())

    def _drop_connection(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            self._connecting = None
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # ---- transport.RequestOwner ------------------------------------------------------------
    def on_response(self, status: int) -> None:
        conn = self.conn
        # it ended with the read that brought its last byte (the parsing after is ours)
        done = conn.read_at if conn is not None else clock()
        self._end(self.engine.mix.kind(self.which, status), conn, done)

    def on_failure(self, kind: str) -> None:
        conn, self.conn = self.conn, None
        self._end(kind, conn, clock())

    def on_gap(self, microseconds: int) -> None:
        self.engine.current.record_gap(self.which, microseconds)

    def _end(self, kind: str | None, conn: HttpConnection | None, now: float) -> None:
        """The request ended at ``now``; ``conn`` is the connection it went out on, if it
        did."""
        self.in_flight = False
        self.engine.in_flight -= 1
        journey = self.journey
        if journey is not None:  # what a connection that keeps kept of the response, if any
            captured = conn if isinstance(conn, CookieConnection) else None
            if not journey.settled or (captured is not None and captured.headers):
                kind = journey.done(self.which, kind, captured, self.payload)
        if conn is None:
            self._done(now, kind, 0.0)
            return
        first_byte = conn.first_byte
        if conn.stream is not None and first_byte:
            self.engine.current.record_stream(
                self.which, conn.stream, self._start(), first_byte, now
            )
        self._done(now, kind, first_byte)

    def _start(self) -> float:
        """When the request's latency is counted from."""
        return self.started

    def _done(self, now: float, kind: str | None, first_byte: float) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Stop at once: a request in flight is dropped unrecorded, the connection closed."""
        if self.in_flight:
            self.in_flight = False
            self.engine.in_flight -= 1
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None
        self._drop_connection()


class _ClosedUser(_Channel):
    """Send, wait for the whole response, think, again."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._thinking: asyncio.TimerHandle | None = None

    def _done(self, now: float, kind: str | None, first_byte: float) -> None:
        engine = self.engine
        engine.current.record_request(self.which, self.started, now, kind, first_byte)
        think = random.uniform(*engine.think_s) if engine.thinks else 0.0
        if kind is not None and not kind.startswith("http_"):
            think = max(think, FAILURE_BACKOFF_S)
        if self.journey is not None and self.journey.backoff:
            think = max(think, self.journey.backoff)  # a setup that failed, retried later
        if think > 0:
            self._thinking = self.loop.call_later(think, self._think_over)
        else:
            self.send()

    def _think_over(self) -> None:
        self._thinking = None
        self.send()

    def stop(self) -> None:
        if self._thinking is not None:
            self._thinking.cancel()
            self._thinking = None
        super().stop()


class _OpenConnection(_Channel):
    """One of the open loop's connections: it takes the next due request whenever it is free.

    In a journey each connection is a user: its setup runs when it opens, off the schedule
    (setup requests are recorded from their actual send, not due at any time), and the
    connection takes due requests once through it."""

    intended = 0.0  # when the request in flight was due
    _retry: asyncio.TimerHandle | None = None

    def begin(self) -> None:
        """Start taking due requests, once through the journey's setup."""
        if self.journey is not None and self.journey.in_setup:
            self._retry = None
            self.send()
            return
        self.engine.idle.append(self)
        self.engine.dispatch()

    def _start(self) -> float:
        # a timer may fire (and send) up to a millisecond before the request is due: never
        # count from a moment after it went out (the corrected time is never the shorter)
        return min(self.intended, self.started)

    def _done(self, now: float, kind: str | None, first_byte: float) -> None:
        engine = self.engine
        current = engine.current
        journey = self.journey
        if journey is not None and (journey.in_setup or self.which in journey.journey.setup):
            self._setup_done(now, kind, first_byte)
            return
        current.record_request(self.which, self._start(), now, kind, first_byte)
        current.uncorrected.record(int((now - self.started) * 1e6))  # type: ignore[union-attr]
        current.send_lag.record(int((self.started - self.intended) * 1e6))  # type: ignore[union-attr]
        if first_byte:
            current.first_byte_uncorrected.record(_us(self.started, first_byte))  # type: ignore[union-attr]
        engine.idle.append(self)
        engine.dispatch()

    def _setup_done(self, now: float, kind: str | None, first_byte: float) -> None:
        """A setup request ended: off the schedule, timed from its actual send (corrected and
        uncorrected alike, no send lag); the setup's next step (or its retry) follows."""
        current = self.engine.current
        current.record_request(self.which, self.started, now, kind, first_byte)
        current.uncorrected.record(_us(self.started, now))  # type: ignore[union-attr]
        if first_byte:
            current.first_byte_uncorrected.record(_us(self.started, first_byte))  # type: ignore[union-attr]
        self._retry = self.loop.call_later(self.journey.backoff, self.begin)  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        super().stop()


class Engine:
    def __init__(self, config: EngineConfig, emit: Any) -> None:
        self.config = config
        self.plan = config.plan
        self.emit = emit
        self.loop = asyncio.get_running_loop()
        self.open_loop = self.plan.mode == "open"
        self.target_users = self.plan.users
        self.mix = _Mix(config.requests)
        self.journey = _journey(config, self.mix)
        self.kinds = self.journey.kinds() if self.journey is not None else None
        self.tls = config.tls.context() if config.tls else None
        self.server_hostname = config.tls.server_hostname if config.tls else None
        self.timeout = self.plan.timeout_s
        self.think_s = self.plan.think_s
        self.thinks = self.think_s[1] > 0
        self.current = _Interval(self.open_loop, self.mix.names)
        self.in_flight = 0
        self.idle: deque[_OpenConnection] = deque()  # open loop: connections free to send
        self._users: list[_Channel] = []
        self._stopping = asyncio.Event()
        self._users_changed = asyncio.Event()
        self._reason = "stopped"
        self.crash: str | None = None
        self._t0 = 0.0
        self._to_mono = 0.0  # monotonic minus ``clock``
        # open loop: of the one schedule, this engine sends requests first, first + stride, ...
        self._schedule = self.plan.schedule()
        self._due_at = self._schedule.at  # request index -> s from the start
        self._total = self._schedule.total
        self._first = config.share.index
        self._stride = config.share.count
        self._next_index = self._first
        self._due_before = 0  # this engine's requests due by the last snapshot
        self._go = asyncio.Event()  # agreed_start: the start instant has arrived from the parent
        self._start_epoch = 0.0
        self._sent = 0
        self._due_timer: asyncio.TimerHandle | None = None
        self._process = psutil.Process()
        self._last_resources = {"rss_bytes": 0, "open_fds": 0}

    # ---- control (from the command reader) ------------------------------------------
    def set_users(self, users: int) -> None:
        self.target_users = max(0, users)
        self._users_changed.set()

    def stop(self, reason: str = "stopped") -> None:
        self._reason = reason
        self._stopping.set()
        self._go.set()

    def begin(self, epoch: float) -> None:
        """Start at ``epoch`` (this machine's wall clock), the instant agreed for every engine."""
        self._start_epoch = epoch
        self._go.set()

    # ---- the run -----------------------------------------------------------------------
    async def run(self) -> str:
        self.loop.set_exception_handler(self._on_loop_error)
        if self.config.agreed_start and not await self._start_instant():
            return self._reason
        self._t0, t0_mono, started_epoch = clock(), time.monotonic(), time.time()
        if self.config.agreed_start:
            # the run starts at the agreed instant, not when this process woke up to it (a few
            # ms either side, more on a busy machine): every engine's share of the schedule
            # stays on one grid, and a late wake is recorded as send lag
            woke = started_epoch - self._start_epoch
            self._t0, t0_mono, started_epoch = self._t0 - woke, t0_mono - woke, self._start_epoch
        self._to_mono = t0_mono - self._t0
        self.emit(EngineStarted(t0_mono, started_epoch))
        helpers = [
            asyncio.create_task(self._spawner()),
            asyncio.create_task(self._lag_probe()),
        ]
        try:
            await self._ticker(t0_mono)
        finally:
            for user in self._users:
                user.stop()
            if self._due_timer is not None:
                self._due_timer.cancel()
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
        return self._reason

    async def _start_instant(self) -> bool:
        """Say ready, then wait for the instant agreed with the other engines; False if told to
        stop first."""
        self.emit(EngineReady())
        await self._go.wait()
        if self._stopping.is_set():
            return False
        wait = max(0.0, self._start_epoch - time.time())
        return not await self._wait_until(time.monotonic() + wait)

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """An exception in a callback is a bug of the engine's: stop, and fail the run."""
        loop.default_exception_handler(context)
        if self.crash is None:
            exc = context.get("exception")
            self.crash = f"{type(exc).__name__}: {exc}" if exc else str(context["message"])
            self.stop("crashed")

    async def _ticker(self, t0_mono: float) -> None:
        interval = self.config.interval_s
        duration = self.plan.duration_s
        index = 0
        cpu_before, cpu_at = time.process_time(), time.monotonic()
        while True:
            index += 1
            boundary = t0_mono + index * interval
            if duration is not None:
                boundary = min(boundary, t0_mono + duration)
            final = await self._wait_until(boundary)
            # a timer may fire early (uvloop counts whole ms from a cached clock, which a busy
            # loop leaves ms behind): an interval never ends before its boundary, or the run
            # would gain a sliver of an extra second at its end
            while not final and time.monotonic() < boundary:
                final = await self._wait_until(boundary)
            now = time.monotonic()
            if duration is not None and now >= t0_mono + duration:
                final, self._reason = True, "duration"
            started = t0_mono + (index - 1) * interval
            cpu_now = time.process_time()
            # over the wall time between the two CPU readings, not the nominal interval: a
            # stop just after a boundary is a short slice, and so is its CPU
            cpu = (cpu_now - cpu_before) / max(1e-3, now - cpu_at) * 100.0
            cpu_before, cpu_at = cpu_now, now
            self.emit(self._snapshot(index, started, now, cpu))
            if final:
                return

    async def _wait_until(self, mono: float) -> bool:
        """Sleep until ``mono``; True if told to stop first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), max(0.0, mono - time.monotonic()))
        return self._stopping.is_set()

    def _snapshot(self, index: int, started: float, ended: float, cpu: float) -> IntervalSnapshot:
        done = self.current  # no await below: nothing records while it is read and cleared
        unsent = intended = 0
        if self.open_loop:
            due = self._schedule.share_due(clock() - self._t0, self._first, self._stride)
            unsent = max(0, due - self._sent)
            intended, self._due_before = due - self._due_before, due
        snapshot = IntervalSnapshot(
            index=index,
            started_mono=started,
            ended_mono=ended,
            requests=done.requests,
            errors=dict(done.errors),
            latency_hdr=hdr.encode(done.latency.histogram()),
            users=self.in_flight if self.open_loop else len(self._users),
            in_flight=self.in_flight,
            loop_lag_ms=round(done.lag_max * 1000.0, 3),
            cpu_percent=round(cpu, 2),
            uncorrected_hdr=hdr.encode(done.uncorrected.histogram()) if done.uncorrected else None,
            send_lag_hdr=hdr.encode(done.send_lag.histogram()) if done.send_lag else None,
            unsent=unsent,
            intended=intended if self.open_loop else None,
            last_response_mono=None if done.last_done is None else done.last_done + self._to_mono,
            **self._resources(),
            tasks=len(asyncio.all_tasks()),
            by_name=done.names(self.mix.names),
            oldest_in_flight_s=self._oldest_in_flight(),
            first_byte_hdr=done.first_byte.encoded(),
            first_byte_uncorrected_hdr=(
                done.first_byte_uncorrected.encoded() if done.first_byte_uncorrected else None
            ),
            stream=done.stream_interval(),
            setup_pending=self._setup_pending(),
        )
        done.clear()
        return snapshot

    def _oldest_in_flight(self) -> float | None:
        """How long the oldest request in flight has waited, s; None when none is. Once an
        interval, over the users (open loop: the connections): the hot path keeps nothing for it,
        each channel already holds when its request was sent."""
        if not self.in_flight:
            return None
        sent = [user.started for user in self._users if user.in_flight]
        return round(max(0.0, clock() - min(sent)), 3) if sent else None

    def _setup_pending(self) -> int:
        """The users not through the journey's setup (at the end: never through it)."""
        if self.journey is None or not self.journey.setup:
            return 0
        return sum(1 for user in self._users if user.journey is not None and user.journey.in_setup)

    def _resources(self) -> dict[str, int]:
        """The engine's memory and descriptors; the last reading when none can be taken (out
        of descriptors, reading /proc needs one)."""
        with contextlib.suppress(OSError, psutil.Error):
            self._last_resources = {
                "rss_bytes": self._process.memory_info().rss,
                "open_fds": self._process.num_fds(),
            }
        return self._last_resources

    # ---- users -------------------------------------------------------------------------
    async def _spawner(self) -> None:
        """Keep the number of users at the target, starting them at the spawn rate."""
        spawn_gap = 0.0 if self.open_loop else 1.0 / self.plan.spawn_rate
        while True:
            if len(self._users) < self.target_users:
                self._add_user()
                if spawn_gap:
                    await asyncio.sleep(spawn_gap)
                continue
            while len(self._users) > self.target_users:
                self._remove_user(self._users.pop())
            self._users_changed.clear()
            await self._users_changed.wait()

    def _add_user(self) -> None:
        if self.open_loop:
            connection = _OpenConnection(self)
            self._users.append(connection)
            connection.begin()
        else:
            user = _ClosedUser(self)
            self._users.append(user)
            user.send()

    def _remove_user(self, user: _Channel) -> None:
        user.stop()
        if self.open_loop and user in self.idle:
            self.idle.remove(user)  # type: ignore[arg-type]

    # ---- open loop: requests due at fixed times ------------------------------------------
    def dispatch(self, due_now: bool = False) -> None:
        """Send every request that is due, in order, while a connection is free; then sleep
        until the next one is due. ``due_now``: the timer for the next request just fired."""
        idle = self.idle
        while idle and self._next_index < self._total:
            intended = self._t0 + self._due_at(self._next_index)
            wait = intended - clock()
            if wait > 0 and not due_now:
                if self._due_timer is None:
                    self._due_timer = self.loop.call_later(wait, self._due)
                return
            due_now = False
            connection = idle.popleft()
            self._next_index += self._stride
            self._sent += 1
            connection.intended = intended
            connection.send()

    def _due(self) -> None:
        self._due_timer = None
        self.dispatch(due_now=True)

    # ---- self-monitoring -------------------------------------------------------------
    async def _lag_probe(self) -> None:
        while True:
            before = clock()
            await asyncio.sleep(LAG_PROBE_S)
            lag = clock() - before - LAG_PROBE_S
            current = self.current
            if lag > current.lag_max:
                current.lag_max = lag


def _journey(config: EngineConfig, mix: _Mix) -> Journey | None:
    """A scenario's journey, when it has one (setup, a flow, extractions, variables or
    cookies); None: a plain mix or request, sent as its bytes."""
    requests = config.requests
    plain = all(r.stage == "mix" and not r.extract and r.personal is None for r in requests)
    if plain and not config.cookies:
        return None
    host = f"[{config.host}]" if ":" in config.host else config.host
    origin = f"{'https' if config.tls else 'http'}://{host}:{config.port}"
    return Journey(requests, mix, origin, config.cookies)


# ---- the engine process --------------------------------------------------------------------
def _loop_factory() -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return None
    return uvloop.new_event_loop


class TargetRefused(Exception):
    """The target is not loopback and --allow-remote was not given: nothing is sent."""


async def _serve_engine(conn: Connection, config: EngineConfig) -> None:
    if not config.allow_remote and not is_loopback(config.host):
        # checked again wherever an engine runs (a node of a cluster, say) before anything is sent
        raise TargetRefused(
            f"{config.host} is not a loopback address, and --allow-remote was not given"
        )
    engine = Engine(config, conn.send)
    loop = asyncio.get_running_loop()

    def on_command() -> None:
        try:
            while conn.poll():
                command, *args = conn.recv()
                if command == "users":
                    engine.set_users(int(args[0]))
                elif command == "stop":
                    engine.stop()
                elif command == "start":
                    engine.begin(float(args[0]))
        except (EOFError, OSError):  # the parent is gone: stop at once
            loop.remove_reader(conn.fileno())
            engine.stop("parent_gone")

    loop.add_reader(conn.fileno(), on_command)
    reason = await engine.run()
    if engine.crash is not None:
        raise RuntimeError(engine.crash)
    if reason != "parent_gone":
        conn.send(EngineFinished(reason))


def _exit_when_orphaned() -> None:
    """A thread, so that it works even if the event loop is stuck: no parent, no engine."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="loadtui-orphan-watch", daemon=True).start()


def engine_main(fd: int) -> None:
    """Entry point of the engine process: its config arrives first on the connection."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    _exit_when_orphaned()
    conn = Connection(fd)
    try:
        config = conn.recv()
        gc.freeze()  # what is loaded by now lives forever: keep it out of collector pauses
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(_serve_engine(conn, config))
    except (BrokenPipeError, EOFError, ConnectionResetError):
        pass
    except TargetRefused as exc:
        with contextlib.suppress(Exception):
            conn.send(EngineFailed(str(exc)))
    except Exception as exc:
        with contextlib.suppress(Exception):
            conn.send(EngineFailed(f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        conn.close()


class EngineProcess:
    """The parent's handle on an engine process (``python -m loadtui.workers FD``).

    A plain subprocess, not multiprocessing: it never re-imports the parent's __main__, runs in
    a session of its own (a Ctrl-C meant for loadtui is loadtui's to handle) and ends by itself
    when its connection to the parent reaches EOF, however the parent died.
    """

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._conn: Connection | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile(prefix="loadtui-engine-")  # noqa: SIM115

    def start(self) -> None:
        ours, theirs = socket.socketpair()
        with theirs:
            fd = theirs.fileno()
            self._process = subprocess.Popen(
                [sys.executable, "-m", "loadtui.workers", str(fd)],
                pass_fds=(fd,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._log,
                start_new_session=True,
            )
        self._conn = Connection(ours.detach())
        self._conn.send(self.config)

    def messages(self, timeout: float) -> list[EngineMessage]:
        """Whatever the engine has sent, waiting up to ``timeout`` for the first."""
        assert self._conn is not None
        received: list[EngineMessage] = []
        try:
            while self._conn.poll(timeout):
                received.append(self._conn.recv())
                timeout = 0
        except (EOFError, OSError):
            if not received or not isinstance(received[-1], EngineFinished | EngineFailed):
                received.append(EngineFailed(self._exit_description()))
        return received

    def _exit_description(self) -> str:
        assert self._process is not None
        try:
            code = self._process.wait(2.0)
        except subprocess.TimeoutExpired:
            code = None
        text = "the engine process ended" + (f" (exit code {code})" if code is not None else "")
        with contextlib.suppress(OSError):
            self._log.seek(0)
            lines = self._log.read().decode(errors="replace").strip().splitlines()
            if lines:
                text += f": {lines[-1]}"
        return text

    def _send(self, *command: object) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError, ValueError):
                self._conn.send(command)

    @property
    def connection(self) -> Connection | None:
        """What to wait on for its next message (``multiprocessing.connection.wait``)."""
        return self._conn

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def set_users(self, users: int) -> None:
        self._send("users", users)

    def begin(self, epoch: float) -> None:
        """Start at ``epoch`` (wall clock): an ``agreed_start`` engine waits for this."""
        self._send("start", epoch)

    def stop(self) -> None:
        self._send("stop")

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()

    def close(self, timeout: float = 3.0) -> None:
        """Wait for the process to end (after stop), killing it if it does not."""
        if self._process is not None:
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(2.0)
        if self._conn is not None:
            self._conn.close()
        self._log.close()


if __name__ == "__main__":
    engine_main(int(sys.argv[1]))
