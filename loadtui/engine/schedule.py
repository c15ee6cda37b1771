"""The open loop's schedule: when each request of a run is due.

A schedule is a list of stages, each a rate held or ramped linearly over a duration
(``10@10s,50:200@60s``; k6's ramping arrival rate). The n-th request (from 0) is due at the
first time t where the integral of the rate from 0 to t reaches n: with a constant rate r,
at n / r; in a stage whose rate goes from a to b over D seconds (slope k = (b - a) / D),
m = n - (the requests before the stage) is due τ into it, where a·τ + k·τ²/2 = m, i.e.
τ = 2m / (a + √(a² + 2km)) (the root that is stable for any sign of k). The schedule has
the requests due before its end: ⌈the whole integral⌉ of them.

Several engines split one schedule: engine i of N sends requests i, i + N, ... (``Share``).
``at`` is on the engine's hot path: a few float operations, the stage found from the last one.
"""

from __future__ import annotations

import math
import re
import sys
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

EPSILON = 1e-9  # floating-point slack when an integral lands on a whole request
UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_STAGE = re.compile(r"^\s*([^:@\s]+)\s*(?::\s*([^:@\s]+)\s*)?@\s*([0-9.eE+-]+)\s*(ms|s|m|h)?\s*$")


class ScheduleError(ValueError):
    """Stages that cannot be a schedule; the message is one line."""


@dataclass(frozen=True)
class Stage:
    """A rate held (``start_rps == end_rps``) or ramped linearly over ``duration_s`` (``inf``:
    held until the run is stopped)."""

    start_rps: float
    end_rps: float
    duration_s: float

    @property
    def requests(self) -> float:
        """The integral of the rate over the stage: the requests it schedules."""
        if self.start_rps == self.end_rps == 0:
            return 0.0
        return (self.start_rps + self.end_rps) / 2 * self.duration_s

    def text(self) -> str:
        """The stage as ``--rate`` takes it."""
        rates = f"{self.start_rps:g}"
        if self.end_rps != self.start_rps:
            rates += f":{self.end_rps:g}"
        return f"{rates}@{self.duration_s:g}s"


def constant(rate: float, duration_s: float | None) -> tuple[Stage, ...]:
    """A plain ``--rate``: one rate held for the run (``None``: until stopped)."""
    return (Stage(rate, rate, math.inf if duration_s is None else duration_s),)


def rate_at(stages: tuple[Stage, ...], t: float) -> float:
    """The rate the stages ask ``t`` seconds into the run (0 past their end)."""
    for stage in stages:
        if t < stage.duration_s:
            share = t / stage.duration_s if math.isfinite(stage.duration_s) else 0.0
            return stage.start_rps + (stage.end_rps - stage.start_rps) * share
        t -= stage.duration_s
    return 0.0


def highest(stages: tuple[Stage, ...]) -> float:
    """The highest rate the stages ask."""
    return max(max(stage.start_rps, stage.end_rps) for stage in stages)


def length(stages: tuple[Stage, ...]) -> float:
    """How long the stages last in all."""
    return sum(stage.duration_s for stage in stages)


def lasting(stages: tuple[Stage, ...], duration: float | None, name: str) -> float:
    """How long a run of ``stages`` lasts: their total. ScheduleError when a ``duration`` was
    given (as option ``name``) that says otherwise."""
    total = length(stages)
    if duration is not None and not math.isclose(duration, total):
        raise ScheduleError(
            f"{name} {duration:g} s: the rate's stages last {total:g} s, and the run lasts them: "
            f"leave {name} out"
        )
    return total


def text(stages: tuple[Stage, ...]) -> str:
    return ",".join(stage.text() for stage in stages)


# ---- parsing ---------------------------------------------------------------------------------
def is_stages(given: str) -> bool:
    """Whether ``--rate`` was given stages rather than one number."""
    return "@" in given or ":" in given or "," in given


def parse(given: str) -> tuple[Stage, ...]:
    """``RATE@DURATION`` (held) or ``FROM:TO@DURATION`` (ramped), comma-separated; a duration
    in ms, s (the default), m or h. Syntax only: ``check`` bounds them."""
    parts = given.split(",")
    if not given.strip() or any(not part.strip() for part in parts):
        raise ScheduleError(f"{given!r}: give stages as RATE@DURATION or FROM:TO@DURATION, ...")
    return tuple(_stage(part) for part in parts)


def _stage(part: str) -> Stage:
    found = _STAGE.match(part)
    if found is None:
        if "@" not in part:
            raise ScheduleError(
                f"{part.strip()!r}: a stage needs its duration (50@30s, 10:200@60s)"
            )
        raise ScheduleError(f"{part.strip()!r} is not a stage: RATE@DURATION or FROM:TO@DURATION")
    start, end, length, unit = found.groups()
    start_rps = _number(start, part)
    end_rps = start_rps if end is None else _number(end, part)
    duration_s = _number(length, part) * UNITS[unit or "s"]
    if duration_s <= 0:
        raise ScheduleError(
            f"{part.strip()!r}: a stage lasts more than 0 s (a duration of {length}{unit or 's'} "
            "would go backwards in time or stand still)"
        )
    if start_rps < 0 or end_rps < 0:
        raise ScheduleError(f"{part.strip()!r}: a rate is 0 or more requests per second")
    return Stage(start_rps, end_rps, duration_s)


def _number(given: str, part: str) -> float:
    try:
        value = float(given)
    except ValueError:
        raise ScheduleError(f"{part.strip()!r}: {given!r} is not a number") from None
    if not math.isfinite(value):
        raise ScheduleError(f"{part.strip()!r}: {given!r} is not a finite number")
    return value


def check(stages: tuple[Stage, ...], max_rate: float, min_s: float, max_s: float) -> None:
    """ScheduleError unless every rate is at most ``max_rate``, the stages last ``min_s`` to
    ``max_s`` in all, and they schedule a request at least."""
    for stage in stages:
        highest = max(stage.start_rps, stage.end_rps)
        if highest > max_rate:
            raise ScheduleError(f"{stage.text()!r}: {highest:g} req/s is above {max_rate:,g}")
    total = length(stages)
    if not min_s <= total <= max_s:
        raise ScheduleError(
            f"{text(stages)!r}: the stages last {total:g} s in all; give {min_s:g} s to {max_s:g} s"
        )
    if sum(stage.requests for stage in stages) < 1 - EPSILON:
        raise ScheduleError(f"{text(stages)!r}: the stages schedule no request")


# ---- the schedule ----------------------------------------------------------------------------
class Schedule:
    """When each request of ``stages`` is due, in seconds from the run's start."""

    def __init__(self, stages: tuple[Stage, ...]) -> None:
        self.stages = stages
        self._starts: list[float] = []  # when each stage begins
        self._begins: list[float] = []  # the integral when it begins ...
        self._ends: list[float] = []  # ... and ends
        elapsed = integral = 0.0
        for stage in stages:
            self._starts.append(elapsed)
            self._begins.append(integral)
            elapsed += stage.duration_s
            integral += stage.requests
            self._ends.append(integral)
        self.duration_s = elapsed  # inf: until stopped
        self.total = sys.maxsize if math.isinf(integral) else math.ceil(integral - EPSILON)
        self._rates = [stage.start_rps for stage in stages]
        self._slopes = [
            0.0 if math.isinf(s.duration_s) else (s.end_rps - s.start_rps) / s.duration_s
            for s in stages
        ]
        self._lengths = [stage.duration_s for stage in stages]
        self._enter(0)

    def _enter(self, i: int) -> None:
        """Make stage ``i`` the one ``at`` looks in first: its figures as attributes (the hot
        path reads no list). Requests within EPSILON of its ends find their stage anew."""
        self._low, self._high = self._begins[i] + EPSILON, self._ends[i] - EPSILON
        self._begin, self._start, self._length = self._begins[i], self._starts[i], self._lengths[i]
        rate, slope = self._rates[i], self._slopes[i]
        self._rate, self._rate2, self._slope2 = rate, rate * rate, 2.0 * slope
        self._period = 1.0 / rate if rate else 0.0

    def at(self, n: int) -> float:
        """When request ``n`` is due, s from the start (``n`` below ``total``)."""
        if not self._low < n < self._high:
            self._enter(min(bisect_left(self._ends, n), len(self._ends) - 1))
            if n <= self._begin:
                return self._start
        m = n - self._begin
        if self._slope2:
            # a ramp down to 0 may round just below 0 at its very end
            square = self._rate2 + self._slope2 * m
            root = math.sqrt(square) if square > 0.0 else 0.0
            return self._start + min(self._length, 2.0 * m / (self._rate + root))
        return self._start + m * self._period

    def integral(self, t: float) -> float:
        """The requests the rate asks from 0 to ``t`` s."""
        if t <= 0:
            return 0.0
        i = max(0, bisect_right(self._starts, t) - 1)
        into = min(t - self._starts[i], self._lengths[i])
        return self._begins[i] + self._rates[i] * into + self._slopes[i] * into * into / 2.0

    def due_by(self, t: float) -> int:
        """How many requests are due at or before ``t`` s (those whose ``at`` is at most t)."""
        if t < 0:
            return 0
        return min(self.total, math.floor(self.integral(t) + EPSILON) + 1)

    def share_due(self, t: float, first: int, stride: int) -> int:
        """Of the requests due by ``t``, how many are engine ``first``'s of ``stride`` engines
        (it sends ``first``, ``first + stride``, ...)."""
        due = self.due_by(t)
        return (due - first + stride - 1) // stride if due > first else 0
