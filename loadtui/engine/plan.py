"""The load plan: how many users, how fast, for how long; closed loop or open loop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from loadtui.engine import schedule
from loadtui.engine.schedule import Schedule, Stage, constant

Mode = Literal["closed", "open"]
MIN_DURATION_S = 1.0  # one interval: a shorter run measures nothing
MAX_DURATION_S = 7 * 24 * 3600.0
MAX_RATE = 100_000.0  # open loop, requests per second: beyond what one engine can send


class PlanError(ValueError):
    """A plan that cannot be run as asked; the message is one line."""


def check_think(think_s: tuple[float, float]) -> None:
    """PlanError unless the least think time is at most the most."""
    low, high = think_s
    if low > high:
        raise PlanError(f"the least think time ({low:g} s) is above the most ({high:g} s)")


@dataclass(frozen=True)
class LoadPlan:
    mode: Mode = "closed"
    users: int = 100  # closed: simulated users; open: most connections in use at once
    spawn_rate: float = 20.0  # users started per second
    duration_s: float | None = 30.0  # None: until stopped
    think_s: tuple[float, float] = (0.1, 0.5)
    rate: float | None = None  # open loop: requests per second (with stages: the highest)
    timeout_s: float = 60.0
    # open loop: the rate held or ramped stage by stage (``--rate 10:200@60s``); none: ``rate``
    # held for ``duration_s``. With stages, ``duration_s`` is their total.
    stages: tuple[Stage, ...] = ()

    def __post_init__(self) -> None:
        check_think(self.think_s)

    def schedule(self) -> Schedule:
        """The open loop's schedule: when each request is due."""
        if self.stages:
            return Schedule(self.stages)
        return Schedule(constant(self.rate or 0.0, self.duration_s))


def check_stages(stages: tuple[Stage, ...]) -> None:
    """ScheduleError unless the stages are within a run's bounds: its rate and its duration."""
    schedule.check(stages, MAX_RATE, MIN_DURATION_S, MAX_DURATION_S)


def split(total: int, parts: int) -> list[int]:
    """``total`` (users, connections) as ``parts`` whole numbers as even as possible, the larger
    first: how a load is shared between engines."""
    low, extra = divmod(total, parts)
    return [low + (1 if k < extra else 0) for k in range(parts)]
