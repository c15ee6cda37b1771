"""loadtui.workers (the engine): its timing rules, run as the engine process (``EngineProcess``)
against small real servers on loopback (tests/servers.py): deadlines per request, the open
loop's schedule, closed-loop users that never idle without think time, users changed while
running, and a bug failing the run."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial

import pytest
import uvloop

from loadtui.engine import hdr
from loadtui.engine.messages import (
    EngineFailed,
    EngineFinished,
    EngineMessage,
    EngineStarted,
    IntervalSnapshot,
)
from loadtui.engine.plan import LoadPlan
from loadtui.workers import Engine, EngineProcess
from tests.helpers import LOAD, engine_config
from tests.servers import ROUTE, on_route, read_requests, response, sending, serving

pytestmark = [pytest.mark.e2e, LOAD]  # engine processes and servers; timing windows

OK = response("200 OK", b"ok")


def run_engine(
    port: int, plan: LoadPlan, during: Callable[[EngineProcess, float], None] | None = None
) -> list[EngineMessage]:
    """Every message of one engine process, to its end; ``during(engine, elapsed)`` is called
    between reads while it runs."""
    assert plan.duration_s is not None
    engine = EngineProcess(engine_config("127.0.0.1", port, ROUTE.decode(), plan))
    engine.start()
    started = time.monotonic()
    received: list[EngineMessage] = []
    try:
        while time.monotonic() - started < plan.duration_s + 20:
            received += engine.messages(0.2)
            if received and isinstance(received[-1], EngineFinished | EngineFailed):
                break
            if during is not None:
                during(engine, time.monotonic() - started)
    finally:
        engine.stop()
        engine.close()
    assert isinstance(received[-1], EngineFinished), received[-1]
    return received


def snapshots(messages: list[EngineMessage]) -> list[IntervalSnapshot]:
    return [m for m in messages if isinstance(m, IntervalSnapshot)]


def latencies_us(shots: list[IntervalSnapshot], field: str = "latency_hdr") -> list[int]:
    """Every recorded latency (bucket values, repeated by count)."""
    total = hdr.new_histogram()
    for shot in shots:
        hdr.add_encoded(total, getattr(shot, field))
    return [value for value, count in hdr.recorded(total) for _ in range(count)]


def answer_until(moment: float, sock: socket.socket) -> None:
    """Answer every request at once until ``moment`` (monotonic), then none."""
    for _ in read_requests(sock):
        if time.monotonic() < moment:
            sock.sendall(OK)


def answer_after(seconds: float, sock: socket.socket) -> bool:
    time.sleep(seconds)
    sock.sendall(OK)
    return True


def test_each_request_times_out_at_its_own_deadline():
    """Fast answers first, then none: every timeout is one full timeout after its own send,
    not after the send of an earlier request on the same connection."""
    timeout = 1.0
    with serving(partial(answer_until, time.monotonic() + 1.0)) as port:
        plan = LoadPlan(users=5, spawn_rate=1000, duration_s=4, think_s=(0, 0), timeout_s=timeout)
        shots = snapshots(run_engine(port, plan))
    timeouts = sum(shot.errors.get("timeout", 0) for shot in shots)
    slow = [us for us in latencies_us(shots) if us > 100_000]
    assert timeouts >= 5 and len(slow) == timeouts
    # HDR keeps 3 significant digits; a timer may fire up to a loop iteration late
    assert timeout * 0.99e6 <= min(slow) <= max(slow) <= (timeout + 0.3) * 1e6


def test_open_loop_sends_every_request_due_on_time():
    rate, duration, connections = 200.0, 3.0, 4
    with serving(on_route(sending(OK))) as port:
        plan = LoadPlan(mode="open", users=connections, duration_s=duration, rate=rate)
        shots = snapshots(run_engine(port, plan))
    due = int(duration * rate)  # at 0, 5 ms, ..., 2.995 s: those due before the end
    requests = sum(shot.requests for shot in shots)
    figures = [(s.requests, s.unsent, s.users) for s in shots]
    # every request due by the end was answered, in flight at the end, or counted as not sent
    assert requests <= due <= requests + shots[-1].in_flight + shots[-1].unsent, figures
    assert max(shot.unsent for shot in shots) <= 2, figures  # due at this very instant
    assert all(shot.users <= connections for shot in shots), figures
    lateness = sorted(latencies_us(shots, "send_lag_hdr"))
    assert lateness[int(len(lateness) * 0.99)] < 50_000  # 2 shared cores: a wide margin


def test_users_without_think_time_are_never_idle_and_can_be_changed():
    """With no think time each user's next request goes out as its response completes: at
    every snapshot each user has one request in flight, also after their number changed."""

    def fewer_users(engine: EngineProcess, elapsed: float) -> None:
        if elapsed > 1.5:
            engine.set_users(3)

    with serving(on_route(partial(answer_after, 0.01))) as port:
        plan = LoadPlan(users=8, spawn_rate=1000, duration_s=4, think_s=(0, 0), timeout_s=5)
        shots = snapshots(run_engine(port, plan, fewer_users))
    assert [(s.users, s.in_flight) for s in shots[:1]] == [(8, 8)]
    assert [(s.users, s.in_flight) for s in shots[-2:]] == [(3, 3), (3, 3)]
    # each user waits ~10 ms per request (the server thread's sleep), so ~100 req/s per user
    assert 3 * 100 * 0.4 <= shots[-1].requests / shots[-1].seconds <= 3 * 100 * 1.1
    assert sum(sum(s.errors.values()) for s in shots) == 0


def test_an_exception_in_a_callback_fails_the_run():
    """A bug in the engine's own callbacks must not pass silently as a server's fault."""

    async def main() -> tuple[str, str | None]:
        with serving(on_route(sending(OK))) as port:
            config = engine_config("127.0.0.1", port, ROUTE.decode(), LoadPlan(duration_s=10))
            engine = Engine(config, lambda _message: None)
            asyncio.get_running_loop().call_later(0.3, lambda: 1 / 0)
            reason = await asyncio.wait_for(engine.run(), 5)
        return reason, engine.crash

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        reason, crash = runner.run(main())
    assert reason == "crashed"
    assert crash == "ZeroDivisionError: division by zero"


def test_an_engine_that_wakes_late_keeps_the_agreed_start():
    """An engine of several starts at the instant they agreed on: woken 0.5 s after it (as on a
    busy machine), it keeps that instant as its start, so that its share of the schedule stays
    on the others' grid, and the requests due meanwhile go out at once, their lateness
    recorded."""
    rate, duration, late = 100.0, 2.0, 0.5

    async def main() -> tuple[list[EngineMessage], float]:
        with serving(on_route(sending(OK))) as port:
            plan = LoadPlan(mode="open", users=4, duration_s=duration, rate=rate)
            config = engine_config("127.0.0.1", port, ROUTE.decode(), plan)
            messages: list[EngineMessage] = []
            engine = Engine(replace(config, agreed_start=True), messages.append)
            agreed = time.time() - late
            engine.begin(agreed)
            await asyncio.wait_for(engine.run(), 10)
        return messages, agreed

    messages, agreed = uvloop.run(main())
    (started,) = [m for m in messages if isinstance(m, EngineStarted)]
    assert started.started_epoch == agreed
    shots = snapshots(messages)
    assert [s.index for s in shots] == [1, 2]  # the run ends at the agreed instant + 2 s
    due = int(duration * rate)  # those due before the end
    requests = sum(shot.requests for shot in shots)
    assert requests <= due <= requests + shots[-1].in_flight + shots[-1].unsent
    # the first request was due when the engine was still asleep (HDR: 3 significant digits)
    assert max(latencies_us(shots, "send_lag_hdr")) >= late * 0.999e6


def test_a_timer_that_fires_early_adds_no_sliver_of_a_second():
    """uvloop's timers count whole ms from a clock a busy loop leaves behind, so a wait may
    end a few ms early: the run still has exactly its seconds, each ending at its boundary, and
    the engine's CPU is a share of the time it was measured over (once a sliver of an extra
    second divided the CPU by a nanosecond: 10^8 %)."""

    async def main() -> list[IntervalSnapshot]:
        with serving(on_route(sending(OK))) as port:
            plan = LoadPlan(users=4, spawn_rate=1000, duration_s=3, think_s=(0, 0))
            config = engine_config("127.0.0.1", port, ROUTE.decode(), plan)
            shots: list[IntervalSnapshot] = []
            engine = Engine(
                config, lambda m: shots.append(m) if isinstance(m, IntervalSnapshot) else None
            )
            wait = engine._wait_until

            async def early(mono: float) -> bool:
                return await wait(mono - 0.005)

            engine._wait_until = early  # type: ignore[method-assign]
            await asyncio.wait_for(engine.run(), 10)
        return shots

    shots = uvloop.run(main())
    assert [s.index for s in shots] == [1, 2, 3]
    for shot in shots:
        assert shot.ended_mono >= shot.started_mono + 1.0
        assert 0 <= shot.cpu_percent <= 400  # a few threads of one process at most
