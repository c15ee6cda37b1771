"""loadtui.engine.schedule: the open loop's intended times follow the stages exactly (the n-th
request where the rate's integral reaches n), one schedule split between engines has no gap and
no duplicate, and stages that cannot be a schedule are refused in one line."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadtui.engine import schedule
from loadtui.engine.schedule import Schedule, ScheduleError, Stage

RATES = st.one_of(st.just(0.0), st.floats(min_value=0.5, max_value=400.0))
STAGES = st.lists(
    st.builds(Stage, RATES, RATES, st.floats(min_value=0.05, max_value=4.0)), min_size=1, max_size=5
).filter(lambda stages: sum(s.requests for s in stages) >= 1)


def times(plan: Schedule) -> list[float]:
    return [plan.at(n) for n in range(plan.total)]


@settings(max_examples=200, deadline=None)
@given(STAGES)
def test_intended_times_never_go_back_and_stay_within_the_run(stages):
    plan = Schedule(tuple(stages))
    due = times(plan)
    assert due[0] == 0.0
    assert all(a <= b for a, b in itertools.pairwise(due))
    assert due[-1] <= plan.duration_s


@settings(max_examples=200, deadline=None)
@given(STAGES)
def test_each_stage_gets_its_integral_within_1_percent_or_one_request(stages):
    plan = Schedule(tuple(stages))
    due = times(plan)
    start = 0.0
    for stage in stages:
        end = start + stage.duration_s
        last = stage is stages[-1]
        count = sum(1 for t in due if start <= t < end or (last and t == end))
        assert abs(count - stage.requests) <= max(1.0, 0.01 * stage.requests) + 1e-6, (
            stage,
            count,
        )
        start = end


@settings(max_examples=100, deadline=None)
@given(STAGES, st.integers(min_value=1, max_value=8))
def test_engines_split_one_schedule_without_gaps_or_duplicates(stages, engines):
    plan = Schedule(tuple(stages))
    shares = [list(range(first, plan.total, engines)) for first in range(engines)]
    indexes = sorted(n for share in shares for n in share)
    assert indexes == list(range(plan.total))
    # each engine's own Schedule (as each engine process builds it) gives the same times, in
    # the order it sends them
    for share in shares:
        own = Schedule(tuple(stages))
        assert [own.at(n) for n in share] == [plan.at(n) for n in share]


@settings(max_examples=200, deadline=None)
@given(STAGES, st.floats(min_value=0.0, max_value=20.0), st.integers(1, 4))
def test_due_by_counts_the_requests_due_by_then(stages, t, engines):
    plan = Schedule(tuple(stages))
    due = times(plan)
    counted = sum(1 for x in due if x <= t)
    on_the_edge = any(math.isclose(x, t, abs_tol=1e-6) for x in due)
    assert plan.due_by(t) == counted or (on_the_edge and abs(plan.due_by(t) - counted) <= 1)
    first = engines - 1
    mine = [n for n in range(first, plan.total, engines) if due[n] <= t]
    assert plan.share_due(t, first, engines) == len(mine) or on_the_edge


def test_a_ramp_is_due_where_its_integral_reaches_n():
    plan = Schedule(schedule.parse("20:60@3s"))  # rate 20 + 40t/3: integral 20t + 20t²/3
    assert plan.total == 120
    for n in (1, 27, 66, 119):
        t = plan.at(n)
        assert 20 * t + 20 * t * t / 3 == pytest.approx(n)
    assert [plan.due_by(s) for s in (0, 1, 2, 3, 4)] == [1, 27, 67, 120, 120]


def test_a_held_rate_is_due_every_period_as_before():
    plan = Schedule(schedule.constant(50.0, 2.0))
    assert plan.total == 100
    assert [plan.at(n) for n in range(5)] == pytest.approx([0.0, 0.02, 0.04, 0.06, 0.08])
    until_stopped = Schedule(schedule.constant(50.0, None))
    assert until_stopped.at(10**6) == pytest.approx(20_000.0) and until_stopped.total > 10**12


def test_stages_parse_with_their_units():
    assert schedule.parse("10@10s, 50@0.5m,50:200@1m, 5@250ms, 1@2") == (
        Stage(10, 10, 10),
        Stage(50, 50, 30),
        Stage(50, 200, 60),
        Stage(5, 5, 0.25),
        Stage(1, 1, 2),
    )
    assert schedule.text(schedule.parse("10:200@60s,5@1m")) == "10:200@60s,5@60s"


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ("10:200", "needs its duration"),
        ("10@", "is not a stage"),
        ("fast@10s", "'fast' is not a number"),
        ("10@10s,,20@5s", "give stages as"),
        ("10@0s", "more than 0 s"),
        ("10@-5s", "backwards in time"),
        ("-10@5s", "0 or more"),
        ("10:-1@5s", "0 or more"),
        ("nan@5s", "not a finite number"),
        ("10@5x", "is not a stage"),
    ],
)
def test_stages_that_do_not_parse_say_why_in_one_line(given, words):
    with pytest.raises(ScheduleError) as caught:
        schedule.parse(given)
    assert words in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ("10:200000@10s", "above 100,000"),
        ("10@0.5s", "last 0.5 s in all"),
        ("10@5d", "is not a stage"),
        ("10@200h", "last 720000 s in all"),
        ("0@10s", "schedule no request"),
    ],
)
def test_stages_beyond_the_bounds_are_refused(given, words):
    with pytest.raises(ScheduleError) as caught:
        schedule.check(schedule.parse(given), 100_000.0, 1.0, 7 * 24 * 3600.0)
    assert words in str(caught.value)


def test_the_rate_asked_at_a_moment_follows_the_stages():
    stages = schedule.parse("10@10s,50:200@60s")
    assert [schedule.rate_at(stages, t) for t in (0, 9.9, 10, 40, 69.9, 70, 99)] == pytest.approx(
        [10, 10, 50, 125, 199.75, 0, 0]
    )
    assert schedule.rate_at(schedule.constant(30, None), 1e6) == 30  # held until stopped


def test_a_run_of_stages_lasts_them_and_a_duration_that_disagrees_is_refused():
    stages = schedule.parse("10:200@30s,200@1m")
    assert schedule.highest(stages) == 200
    assert schedule.lasting(stages, None, "--duration") == schedule.lasting(stages, 90, "x") == 90
    with pytest.raises(ScheduleError) as caught:
        schedule.lasting(stages, 60, "--duration")
    assert str(caught.value) == (
        "--duration 60 s: the rate's stages last 90 s, and the run lasts them: leave --duration out"
    )
