"""Run models filled by hand: the engine's snapshots and the probe's samples, second by second,
exactly as a runner feeds them, with no process or socket. For unit tests of the statistics
and the verdict rules at their boundaries (milliseconds each)."""

from __future__ import annotations

from collections.abc import Sequence

from loadtui.engine import hdr
from loadtui.engine.messages import EngineFinished, EngineStarted, IntervalSnapshot
from loadtui.engine.plan import LoadPlan
from loadtui.probing.samples import ServerSample, Stall
from loadtui.run.model import RunModel
from loadtui.targets.target import Target

T0 = 5000.0  # the engine's monotonic clock at the start
EPOCH = 1_795_000_000.0  # the wall clock at the start
TARGET = Target(url="http://127.0.0.1:8000", host="127.0.0.1", port=8000, route="/x")


def histogram(latencies_ms: Sequence[float]) -> str:
    found = hdr.new_histogram()
    for value in latencies_ms:
        hdr.record_us(found, int(value * 1000))
    return hdr.encode(found)


def snapshot(
    second: int,
    latencies_ms: Sequence[float] = (100.0,),
    *,
    errors: dict[str, int] | None = None,
    cpu_percent: float = 5.0,
    loop_lag_ms: float = 1.0,
    users: int = 10,
    in_flight: int = 0,
    oldest_s: float | None = None,
) -> IntervalSnapshot:
    """Second ``second`` of the run: a request per latency (``errors`` among them), and
    ``in_flight`` requests waiting at its end, the oldest for ``oldest_s``."""
    return IntervalSnapshot(
        index=second,
        started_mono=T0 + second - 1,
        ended_mono=T0 + second,
        requests=len(latencies_ms),
        errors=errors or {},
        latency_hdr=histogram(latencies_ms),
        users=users,
        in_flight=in_flight,
        loop_lag_ms=loop_lag_ms,
        cpu_percent=cpu_percent,
        last_response_mono=T0 + second - 0.01 if latencies_ms else None,
        oldest_in_flight_s=oldest_s if in_flight else None,
    )


def sample(second: float, **figures: object) -> ServerSample:
    """A server sample taken ``second`` seconds into the run."""
    return ServerSample(mono=T0 + second, **figures)  # type: ignore[arg-type]


def stall(start_s: float, duration_s: float, culprit: str = "blocking_call") -> Stall:
    """A stall beginning ``start_s`` seconds into the run (negative: before it)."""
    return Stall(
        started_at="",
        started_epoch=EPOCH + start_s,
        duration_s=duration_s,
        ongoing=False,
        culprit=culprit,
        location="app.py:1",
    )


def model(
    seconds: int = 10,
    *,
    per_second: Sequence[IntervalSnapshot] | None = None,
    samples: Sequence[ServerSample] = (),
    looks: Sequence[Sequence[ServerSample]] = (),
    stalls: Sequence[Stall] = (),
    signals: tuple[list[str], list[str]] = (["metrics sidecar", "heartbeat", "process stats"], []),
    plan: LoadPlan | None = None,
) -> RunModel:
    """A finished run of ``seconds`` seconds; samples (one worker) or looks (several) are fed
    in time order between the snapshots, as the probe's thread and the engine pump interleave
    them."""
    found = RunModel(target=TARGET, plan=plan or LoadPlan(duration_s=seconds))
    found.add_engine_message(EngineStarted(T0, EPOCH))
    snapshots = list(per_second or [snapshot(s) for s in range(1, seconds + 1)])
    pending = sorted(
        [[s] for s in samples] + [list(look) for look in looks], key=lambda look: look[0].mono
    )
    for snap in snapshots:
        while pending and pending[0][0].mono < snap.ended_mono:
            found.add_server_look(pending.pop(0))
        found.add_engine_message(snap)
    for rest in pending:
        found.add_server_look(rest)
    found.add_stalls(list(stalls))
    found.set_signals(*signals)
    found.add_engine_message(EngineFinished("duration"))
    found.finish("finished")
    return found
