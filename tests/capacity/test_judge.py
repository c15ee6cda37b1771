"""A step's run judged for the search, from run documents built by the real run model fed by
hand (tests/synthetic.py): each reason a step breaks, in the order they are judged."""

from __future__ import annotations

from loadtui.capacity import judge
from loadtui.capacity.slo import parse_slo
from loadtui.engine.plan import LoadPlan
from loadtui.run import document
from loadtui.run.rundoc import RunDocument
from tests import synthetic

P99_300 = (parse_slo("p99<300ms"),)


def doc(per_second: list[int], latency_ms: float = 100.0, **kw: object) -> RunDocument:
    """A run at whatever rate: ``per_second`` answers in each second."""
    snaps = [
        synthetic.snapshot(i, [latency_ms] * count, **kw)  # type: ignore[arg-type]
        for i, count in enumerate(per_second, start=1)
    ]
    plan = LoadPlan(mode="open", rate=50.0, users=100, duration_s=len(per_second))
    return document.build(synthetic.model(len(per_second), per_second=snaps, plan=plan))


def test_a_step_that_kept_pace_within_its_slo_held() -> None:
    step = doc([40, 50, 50, 50])  # the first second lacks the answers still in flight
    assert judge.achieved(step) == 50
    assert judge.reason(step, 50, P99_300) is None


def test_a_server_that_answers_fewer_than_were_due_did_not_keep_up() -> None:
    step = doc([45, 45, 45, 45])
    assert judge.reason(step, 50, P99_300) == "server"
    assert judge.reason(step, 46, P99_300) is None  # within 3 %: a window's edges


def test_a_slow_routes_first_answers_come_later_and_are_not_a_lag() -> None:
    step = doc([0, 25, 50, 50, 50], latency_ms=1500)  # answers keep pace from the third second
    assert judge.warmup_s(step) == 2
    assert judge.achieved(step) == 50
    assert judge.reason(step, 50, (parse_slo("p99<2s"),)) is None


def test_an_slo_breached_while_keeping_pace() -> None:
    assert judge.reason(doc([50, 50, 50], latency_ms=400), 50, P99_300) == "slo"
    assert judge.reason(doc([50, 50, 50], latency_ms=250), 50, P99_300) is None


def test_errors_of_one_percent_break_a_step_before_anything_else() -> None:
    step = doc([50, 50], latency_ms=400, errors={"status_500": 1})  # 2 of 100
    assert judge.reason(step, 50, P99_300) == "errors"


def test_a_saturated_generator_makes_a_step_inconclusive_whatever_else() -> None:
    step = doc([20, 20, 20, 20, 20], latency_ms=900, cpu_percent=100.0, loop_lag_ms=500.0)
    assert step.generator.saturated
    assert judge.reason(step, 50, P99_300) == "generator"
    assert "generator_saturated" in judge.outcome(step, 50, P99_300).verdicts
