"""The engines of one run: where each one runs, its own figures, and how it ended (finished,
or lost mid-run while the others went on)."""

from __future__ import annotations

from loadtui.engine.messages import EngineInfo, IntervalSnapshot
from loadtui.engine.plan import split
from loadtui.run import stats
from loadtui.run.rundoc import EngineTotals


class Roster:
    def __init__(self, count: int, users: int) -> None:
        self.count = count
        self.infos = [EngineInfo(k, "", share) for k, share in enumerate(split(users, count))]
        self.running = [stats.EngineRunning() for _ in range(count)]
        self.started_epoch: dict[int, float] = {}  # on the parent's clock
        self.finished: dict[int, str] = {}  # engine -> the reason it gave
        self.lost: dict[int, tuple[str, float]] = {}  # engine -> (why, seconds into the run)
        self._unsent = [0] * count
        self._setup_pending = [0] * count  # users not through a journey's setup, by engine
        # each engine's requests in flight at its latest snapshot, and the oldest one's wait
        self._in_flight: list[tuple[int, float | None]] = [(0, None)] * count

    def describe(self, infos: list[EngineInfo]) -> None:
        self.infos = list(infos)

    def add(self, engine: int, snap: IntervalSnapshot) -> int:
        """Count one of its snapshots; the run's requests due and not sent, all engines'."""
        self.running[engine].add(snap)
        self._unsent[engine] = snap.unsent
        self._setup_pending[engine] = snap.setup_pending
        self._in_flight[engine] = (snap.in_flight, snap.oldest_in_flight_s)
        return sum(self._unsent)

    def in_flight(self) -> tuple[int, float | None]:
        """The requests every engine had in flight at its latest snapshot (at the end: still
        waiting when the load ended), and how long the oldest had waited. A lost engine's are
        left out: nobody waits for them any more (``engine_lost`` says what became of it)."""
        kept = [figures for k, figures in enumerate(self._in_flight) if k not in self.lost]
        waited = [oldest for count, oldest in kept if count and oldest is not None]
        return sum(count for count, _ in kept), max(waited, default=None)

    def setup_pending(self) -> int:
        """The users every engine had not got through setup at its latest snapshot (a lost
        engine's are left out, as in ``in_flight``)."""
        return sum(n for k, n in enumerate(self._setup_pending) if k not in self.lost)

    def finish(self, engine: int, reason: str) -> None:
        self.finished.setdefault(engine, reason)

    def lose(self, engine: int, why: str, at_s: float) -> None:
        if engine not in self.finished:
            self.lost.setdefault(engine, (why, at_s))

    def live(self) -> list[int]:
        """The engines still running, by index."""
        return [k for k in range(self.count) if k not in self.finished and k not in self.lost]

    @property
    def done(self) -> bool:
        return len(self.finished) + len(self.lost) >= self.count

    @property
    def end_reason(self) -> str | None:
        """Once every engine is done: why the first to finish finished (None: all were lost)."""
        return next(iter(self.finished.values()), None) if self.done else None

    def name(self, engine: int) -> str:
        """ "engine 2 of 4 (on host)"."""
        host = self.infos[engine].host
        return f"engine {engine + 1} of {self.count}" + (f" (on {host})" if host else "")

    def totals(self, run_started_epoch: float | None) -> list[EngineTotals]:
        return [self._totals(k, run_started_epoch) for k in range(self.count)]

    def _totals(self, engine: int, run_started_epoch: float | None) -> EngineTotals:
        info, running = self.infos[engine], self.running[engine]
        started = self.started_epoch.get(engine)
        lost = self.lost.get(engine)
        return EngineTotals(
            engine=engine + 1,
            host=info.host,
            node=info.node,
            pid=info.pid,
            clock_offset_s=round(info.clock_offset_s, 6),
            started_after_s=(
                round(started - run_started_epoch, 6)
                if started is not None and run_started_epoch is not None
                else None
            ),
            users=info.users,
            requests=running.requests,
            cpu_percent_mean=running.cpu_mean,
            cpu_percent_max=running.cpu_max,
            loop_lag_ms_max=running.lag_max,
            rss_bytes_max=running.rss_max,
            saturated=running.saturated,
            saturated_seconds=running.saturated_seconds,
            lost=lost is not None,
            lost_at_s=round(lost[1], 3) if lost else None,
            lost_reason=lost[0] if lost else None,
        )
