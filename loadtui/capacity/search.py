"""The stepped search, pure: a quick ramp (doubling short steps) finds the neighbourhood, a
steady step confirms the last rate that held, then steady steps bisect between the highest rate
that held and the lowest that broke. ``step(rate, seconds, phase)`` carries out one step; the
search only reads what it returns, so it is tested without sockets.

A step the generator could not drive (its own saturation) says nothing of the app: its rate is
a ceiling for the search, never the app's capacity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Phase = Literal["ramp", "steady"]
Reason = Literal["slo", "errors", "server", "generator"]
LimitedBy = Literal["slo", "errors", "server", "generator", "max_rate"]


@dataclass(frozen=True)
class Bounds:
    min_rate: float
    max_rate: float
    ramp_s: float  # each ramp step
    step_s: float  # each steady step
    resolution: float = 0.05  # stop once the lowest break is within this share of the held rate
    max_steps: int = 24  # a search that has not converged by then stops where it is


@dataclass(frozen=True)
class StepOutcome:
    """What one step showed: held (``broke`` None), or why it did not."""

    broke: Reason | None
    verdicts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    number: int
    rate: float
    phase: Phase
    seconds: float
    outcome: StepOutcome


@dataclass
class SearchResult:
    held_rps: float | None
    broke_at_rps: float | None
    limited_by: LimitedBy | None  # None: the search ended early, before anything limited it
    verdicts: tuple[str, ...]  # the codes at the break (at the generator's ceiling if that)
    steps: list[Step] = field(default_factory=list)
    break_step: int | None = None  # the number of the step those verdicts are from
    stopped: bool = False  # interrupted, or a step could not be carried out


StepFunction = Callable[[float, float, Phase], StepOutcome | None]  # None: stop the search


@dataclass
class _State:
    bounds: Bounds
    step_fn: StepFunction
    steps: list[Step] = field(default_factory=list)
    held: Step | None = None  # the highest steady step that held
    broke: Step | None = None  # the lowest step the app broke
    ceiling: Step | None = None  # the lowest step the generator could not drive
    stopped: bool = False

    def run(self, rate: float, phase: Phase) -> StepOutcome | None:
        seconds = self.bounds.ramp_s if phase == "ramp" else self.bounds.step_s
        outcome = self.step_fn(rate, seconds, phase)
        if outcome is None:
            self.stopped = True
            return None
        step = Step(len(self.steps) + 1, rate, phase, seconds, outcome)
        self.steps.append(step)
        if outcome.broke == "generator":
            self.ceiling = _lower(self.ceiling, step)
        elif outcome.broke is not None:
            self.broke = _lower(self.broke, step)
        elif phase == "steady":
            self.held = step if self.held is None or rate > self.held.rate else self.held
            # a quick ramp step's break (or ceiling) that a steady step did not bear out
            self.broke = _unless_borne_out(self.broke, rate)
            self.ceiling = _unless_borne_out(self.ceiling, rate)
        return outcome

    def top_step(self) -> Step | None:
        found = [s for s in (self.broke, self.ceiling) if s is not None]
        return min(found, key=lambda s: s.rate, default=None)

    def top(self) -> float:
        """The lowest rate known not to hold (the app's break or the generator's ceiling)."""
        step = self.top_step()
        return self.bounds.max_rate if step is None else step.rate

    def budget_left(self) -> bool:
        return not self.stopped and len(self.steps) < self.bounds.max_steps


def _unless_borne_out(step: Step | None, held: float) -> Step | None:
    return None if step is not None and step.phase == "ramp" and step.rate <= held else step


def _held(step: Step) -> bool:
    return step.phase == "steady" and step.outcome.broke is None


def _lower(current: Step | None, step: Step) -> Step:
    return step if current is None or step.rate <= current.rate else current


def _ramp(state: _State) -> float | None:
    """Double the rate from the least until a step breaks or the most holds; the last rate
    that held (None: not even the least)."""
    rate, last = state.bounds.min_rate, None
    while state.budget_left():
        outcome = state.run(rate, "ramp")
        if outcome is None or outcome.broke is not None:
            return last
        last = rate
        if rate >= state.bounds.max_rate:
            return last
        rate = min(rate * 2, state.bounds.max_rate)
    return last


def _confirm(state: _State, rate: float) -> None:
    """A steady step at ``rate``; while it breaks, halve it (down to the least rate)."""
    while state.budget_left():
        outcome = state.run(rate, "steady")
        if outcome is None or outcome.broke is None or rate <= state.bounds.min_rate:
            return
        rate = max(rate / 2, state.bounds.min_rate)


def _bisect(state: _State) -> None:
    """Steady steps halfway between the highest held and the lowest not held, until the two
    are within the resolution; then a steady step at a break only a ramp step showed."""
    while state.budget_left() and state.held is not None:
        low, high = state.held.rate, state.top()
        if high - low > state.bounds.resolution * low:
            state.run((low + high) / 2, "steady")
            continue
        top = state.top_step()
        if top is None and low < state.bounds.max_rate:
            state.run(state.bounds.max_rate, "steady")  # held near the most: the most, then
        elif top is None or top.phase == "steady":
            return
        else:
            state.run(top.rate, "steady")  # a break is only ever a steady step's


def search(step_fn: StepFunction, bounds: Bounds) -> SearchResult:
    state = _State(bounds, step_fn)
    last = _ramp(state)
    if state.budget_left():
        _confirm(state, last if last is not None else bounds.min_rate)
    _bisect(state)
    return _result(state)


def _result(state: _State) -> SearchResult:
    broke, ceiling = state.broke, state.ceiling
    top = state.top() if broke is not None or ceiling is not None else float("inf")
    # a steady step that held above a lower one that broke (noise at the edge) is not kept
    held = max((s.rate for s in state.steps if _held(s) and s.rate < top), default=None)
    if broke is not None and (ceiling is None or broke.rate <= ceiling.rate):
        limited_by: LimitedBy | None = broke.outcome.broke or "slo"
        at, broke_at = broke, broke.rate
    elif ceiling is not None:
        limited_by, at, broke_at = "generator", ceiling, None
    else:  # nothing broke: up to the most, unless the search ended before it got there
        limited_by, at, broke_at = (None if state.stopped else "max_rate"), None, None
    verdicts = at.outcome.verdicts if at is not None else ()
    number = at.number if at is not None else None
    return SearchResult(held, broke_at, limited_by, verdicts, state.steps, number, state.stopped)
