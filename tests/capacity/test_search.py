"""The capacity search's logic, pure: a fake step function plays an app whose limit is known
(and a generator whose limit is known), so the ramp, the steady confirmation, the bisection and
every way a search ends are checked without a socket."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from loadtui.capacity.search import Bounds, Phase, Reason, StepOutcome, search

BOUNDS = Bounds(min_rate=10, max_rate=1000, ramp_s=2, step_s=5, resolution=0.05)


@dataclass
class FakeApp:
    """Holds up to ``limit`` req/s, then breaks for ``why``; the generator drives up to
    ``generator`` req/s. ``ramp_noise``: a quick ramp step at this rate breaks although a
    steady one holds."""

    limit: float
    why: Reason = "slo"
    generator: float = float("inf")
    ramp_noise: float | None = None
    asked: list[tuple[float, float, Phase]] = field(default_factory=list)

    def __call__(self, rate: float, seconds: float, phase: Phase) -> StepOutcome:
        self.asked.append((rate, seconds, phase))
        if rate > self.generator:
            return StepOutcome("generator", ("generator_saturated",))
        if rate > self.limit:
            return StepOutcome(self.why, ("threadpool_saturated",))
        if phase == "ramp" and rate == self.ramp_noise:
            return StepOutcome("server")
        return StepOutcome(None)


@pytest.mark.parametrize("why", ["slo", "errors", "server"])
def test_the_bisection_brackets_a_known_limit_and_names_why_it_broke(why: Reason) -> None:
    app = FakeApp(limit=50, why=why)
    result = search(app, BOUNDS)
    assert result.held_rps is not None and result.broke_at_rps is not None
    assert result.held_rps <= 50 < result.broke_at_rps
    assert result.broke_at_rps - result.held_rps <= BOUNDS.resolution * result.held_rps
    assert (result.limited_by, result.verdicts) == (why, ("threadpool_saturated",))
    assert result.break_step is not None
    assert result.steps[result.break_step - 1].rate == result.broke_at_rps
    ramp = [rate for rate, _, phase in app.asked if phase == "ramp"]
    assert ramp == [10, 20, 40, 80]  # doubling until the break
    assert all(s == 2 for _, s, p in app.asked if p == "ramp")
    assert all(s == 5 for _, s, p in app.asked if p == "steady")
    # the steady steps confirm the last ramp rate that held, then bisect within [40, 80]
    steady = [rate for rate, _, phase in app.asked if phase == "steady"]
    assert steady[:3] == [40, 60, 50]


def test_a_route_that_never_breaks_is_limited_by_the_most_rate_asked() -> None:
    app = FakeApp(limit=10_000)
    result = search(app, Bounds(min_rate=10, max_rate=100, ramp_s=2, step_s=5))
    assert (result.held_rps, result.broke_at_rps, result.limited_by) == (100, None, "max_rate")
    assert result.verdicts == () and result.break_step is None
    assert [r for r, _, _ in app.asked] == [10, 20, 40, 80, 100, 100]  # the most, then steady


def test_the_generator_saturating_is_never_the_apps_capacity() -> None:
    app = FakeApp(limit=10_000, generator=300)
    result = search(app, BOUNDS)
    assert result.limited_by == "generator"
    assert result.broke_at_rps is None
    assert result.held_rps is not None and result.held_rps <= 300
    assert result.verdicts == ("generator_saturated",)


def test_an_app_break_below_the_generators_ceiling_is_the_apps() -> None:
    result = search(FakeApp(limit=100, why="server", generator=300), BOUNDS)
    assert result.limited_by == "server"
    assert result.held_rps is not None and result.broke_at_rps is not None
    assert result.held_rps <= 100 < result.broke_at_rps <= 300


def test_nothing_held_not_even_the_least_rate() -> None:
    app = FakeApp(limit=5, why="errors")
    result = search(app, BOUNDS)
    assert (result.held_rps, result.broke_at_rps, result.limited_by) == (None, 10, "errors")
    assert app.asked == [(10, 2, "ramp"), (10, 5, "steady")]  # confirmed by a steady step


def test_a_quick_ramp_break_a_steady_step_does_not_bear_out_is_set_aside() -> None:
    app = FakeApp(limit=50, ramp_noise=20)
    result = search(app, BOUNDS)
    assert result.held_rps is not None and result.broke_at_rps is not None
    assert result.held_rps <= 50 < result.broke_at_rps


def test_a_steady_break_below_a_rate_that_held_wins() -> None:
    """Noise at the edge: 60 held steady, then 55 broke: the capacity is below 55."""
    outcomes = {10: None, 20: None, 40: None, 80: "slo", 60: None, 70: "slo", 65: "slo"}
    outcomes |= {62.5: "slo", 61.25: "slo"}

    def step(rate: float, _seconds: float, _phase: Phase) -> StepOutcome:
        return StepOutcome(outcomes.get(rate, "slo"))  # type: ignore[arg-type]

    result = search(step, BOUNDS)
    assert result.held_rps is not None and result.broke_at_rps is not None
    assert result.held_rps < result.broke_at_rps


def test_a_step_that_cannot_be_done_ends_the_search_with_what_was_found() -> None:
    calls = []

    def step(rate: float, _seconds: float, _phase: Phase) -> StepOutcome | None:
        calls.append(rate)
        return StepOutcome(None) if len(calls) < 3 else None

    result = search(step, BOUNDS)
    assert result.stopped and len(result.steps) == 2 and len(calls) == 3
    assert result.held_rps is None  # no steady step held yet: nothing is claimed
    assert result.limited_by is None  # nor what limited it


def test_the_search_stops_after_its_most_steps() -> None:
    app = FakeApp(limit=50)
    result = search(app, Bounds(10, 1000, 2, 5, resolution=0.0001, max_steps=7))
    assert len(app.asked) == 7 and not result.stopped
    assert result.held_rps is not None and result.held_rps <= 50
