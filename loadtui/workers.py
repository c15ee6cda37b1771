"""The load engine: a pool of simulated users (or an open-loop arrival schedule) in a process
of its own, with uvloop when available, shipping one interval snapshot per second.

Closed loop (default), like Locust: each user owns one keep-alive connection, sends a
request, waits for the whole response (its latency: send to last byte, connecting included),
then thinks for a uniform random time in [think_min, think_max]. Users start at
``spawn_rate`` per second; their number can change while running.

Open loop (``rate``): requests are due at a constant rate, at fixed intended times. ``users``
connections take them in order; when all are busy the next request goes out late. Latency is
recorded from the intended time (coordinated omission corrected) and from the actual send
time (uncorrected), and the lateness itself in a third histogram.

The engine watches itself: its loop lag and its CPU go into every snapshot, so that the
numbers can be flagged when the generator, not the server, is the bottleneck.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

import psutil

from loadtui import hdr
from loadtui.engine_messages import (
    EngineConfig,
    EngineFailed,
    EngineFinished,
    EngineMessage,
    EngineStarted,
    IntervalSnapshot,
)
from loadtui.transport import Client, RequestFailed, build_request

LAG_PROBE_S = 0.05
FAILURE_BACKOFF_S = 0.05  # a user whose connection failed waits at least this long


class _Interval:
    """Counters and histograms for the interval being measured; emptied, not replaced, at
    each snapshot (fresh histograms every second would fragment the heap over long runs)."""

    def __init__(self, open_loop: bool) -> None:
        self.latency = hdr.new_histogram()
        self.uncorrected = hdr.new_histogram() if open_loop else None
        self.send_lag = hdr.new_histogram() if open_loop else None
        self.clear()

    def clear(self) -> None:
        for histogram in (self.latency, self.uncorrected, self.send_lag):
            if histogram is not None:
                hdr.reset(histogram)
        self.requests = 0
        self.errors: Counter[str] = Counter()
        self.lag_max = 0.0
        self.last_done: float | None = None


def _http_kind(status: int) -> str | None:
    return None if status < 400 else f"http_{status}"


class Engine:
    def __init__(self, config: EngineConfig, emit: Any) -> None:
        self.config = config
        self.plan = config.plan
        self.emit = emit
        self.open_loop = self.plan.mode == "open"
        self.target_users = self.plan.users
        self.payload = build_request(config.host, config.port, config.path)
        self._current = _Interval(self.open_loop)
        self._users: list[asyncio.Task[None]] = []
        self._in_flight = 0
        self._stopping = asyncio.Event()
        self._users_changed = asyncio.Event()
        self._reason = "stopped"
        self._t0 = 0.0
        self._period = 1.0 / self.plan.rate if self.plan.rate else 0.0
        self._next_index = 0
        self._sent = 0
        self._process = psutil.Process()

    # ---- control (from the command reader) ------------------------------------------
    def set_users(self, users: int) -> None:
        self.target_users = max(0, users)
        self._users_changed.set()

    def stop(self, reason: str = "stopped") -> None:
        self._reason = reason
        self._stopping.set()

    # ---- the run -----------------------------------------------------------------------
    async def run(self) -> str:
        self._t0 = time.perf_counter()
        t0_mono = time.monotonic()
        self.emit(EngineStarted(t0_mono, time.time()))
        helpers = [
            asyncio.create_task(self._spawner()),
            asyncio.create_task(self._lag_probe()),
        ]
        try:
            await self._ticker(t0_mono)
        finally:
            for task in helpers + self._users:
                task.cancel()
            await asyncio.gather(*helpers, *self._users, return_exceptions=True)
        return self._reason

    async def _ticker(self, t0_mono: float) -> None:
        interval = self.config.interval_s
        duration = self.plan.duration_s
        index = 0
        cpu_before = time.process_time()
        while True:
            index += 1
            boundary = t0_mono + index * interval
            if duration is not None:
                boundary = min(boundary, t0_mono + duration)
            final = await self._wait_until(boundary)
            now = time.monotonic()
            if duration is not None and now >= t0_mono + duration - 1e-3:
                final, self._reason = True, "duration"
            started = t0_mono + (index - 1) * interval
            cpu_now = time.process_time()
            cpu = (cpu_now - cpu_before) / max(1e-9, now - started) * 100.0
            cpu_before = cpu_now
            self.emit(self._snapshot(index, started, now, cpu))
            if final:
                return

    async def _wait_until(self, mono: float) -> bool:
        """Sleep until ``mono``; True if told to stop first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), max(0.0, mono - time.monotonic()))
        return self._stopping.is_set()

    def _snapshot(self, index: int, started: float, ended: float, cpu: float) -> IntervalSnapshot:
        done = self._current  # no await below: nothing records while it is read and cleared
        unsent = 0
        if self.open_loop:
            due = int((time.perf_counter() - self._t0) / self._period) + 1
            unsent = max(0, due - self._sent)
        snapshot = IntervalSnapshot(
            index=index,
            started_mono=started,
            ended_mono=ended,
            requests=done.requests,
            errors=dict(done.errors),
            latency_hdr=hdr.encode(done.latency),
            users=self._in_flight if self.open_loop else len(self._users),
            in_flight=self._in_flight,
            loop_lag_ms=round(done.lag_max * 1000.0, 3),
            cpu_percent=round(cpu, 2),
            uncorrected_hdr=hdr.encode(done.uncorrected) if done.uncorrected else None,
            send_lag_hdr=hdr.encode(done.send_lag) if done.send_lag else None,
            unsent=unsent,
            last_response_mono=done.last_done,
            rss_bytes=self._process.memory_info().rss,
            open_fds=self._process.num_fds(),
            tasks=len(asyncio.all_tasks()),
        )
        done.clear()
        return snapshot

    # ---- users -------------------------------------------------------------------------
    async def _spawner(self) -> None:
        """Keep the number of users at the target, starting them at the spawn rate."""
        spawn_gap = 0.0 if self.open_loop else 1.0 / self.plan.spawn_rate
        user = self._open_user if self.open_loop else self._closed_user
        while True:
            self._users = [task for task in self._users if not task.done()]
            if len(self._users) < self.target_users:
                self._users.append(asyncio.create_task(user()))
                if spawn_gap:
                    await asyncio.sleep(spawn_gap)
                continue
            while len(self._users) > self.target_users:
                self._users.pop().cancel()
            self._users_changed.clear()
            await self._users_changed.wait()

    def _client(self) -> Client:
        return Client(self.config.host, self.config.port, self.payload, self.plan.timeout_s)

    async def _closed_user(self) -> None:
        client = self._client()
        think_min, think_max = self.plan.think_s
        clock = time.perf_counter
        try:
            while True:
                started = clock()
                kind = await self._send(client)
                self._record(int((clock() - started) * 1e6), kind)
                think = random.uniform(think_min, think_max)
                if kind is not None and not kind.startswith("http_"):
                    think = max(think, FAILURE_BACKOFF_S)
                await asyncio.sleep(think)
        finally:
            client.close()

    async def _open_user(self) -> None:
        client = self._client()
        clock = time.perf_counter
        try:
            while True:
                intended = self._t0 + self._next_index * self._period
                self._next_index += 1
                delay = intended - clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                self._sent += 1
                sent = clock()
                kind = await self._send(client)
                done = clock()
                self._record(int((done - intended) * 1e6), kind)
                current = self._current
                hdr.record_us(current.uncorrected, int((done - sent) * 1e6))  # type: ignore[arg-type]
                hdr.record_us(current.send_lag, int((sent - intended) * 1e6))  # type: ignore[arg-type]
        finally:
            client.close()

    async def _send(self, client: Client) -> str | None:
        """One request; the error kind, or None for a response below 400."""
        self._in_flight += 1
        try:
            return _http_kind(await client.get())
        except RequestFailed as failure:
            return failure.kind
        finally:
            self._in_flight -= 1

    def _record(self, microseconds: int, kind: str | None) -> None:
        current = self._current
        hdr.record_us(current.latency, microseconds)
        current.requests += 1
        current.last_done = time.monotonic()
        if kind is not None:
            current.errors[kind] += 1

    # ---- self-monitoring -------------------------------------------------------------
    async def _lag_probe(self) -> None:
        clock = time.perf_counter
        while True:
            before = clock()
            await asyncio.sleep(LAG_PROBE_S)
            lag = clock() - before - LAG_PROBE_S
            current = self._current
            if lag > current.lag_max:
                current.lag_max = lag


# ---- the engine process --------------------------------------------------------------------
def _loop_factory() -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return None
    return uvloop.new_event_loop


async def _serve_engine(conn: Connection, config: EngineConfig) -> None:
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
        except (EOFError, OSError):  # the parent is gone: stop at once
            loop.remove_reader(conn.fileno())
            engine.stop("parent_gone")

    loop.add_reader(conn.fileno(), on_command)
    reason = await engine.run()
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

    def set_users(self, users: int) -> None:
        self._send("users", users)

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
