"""loadtui.fleet.local, loadtui.run.model and loadtui.report.merge: several engines as one run,
without processes: the load and the schedule's data rows split between them, their seconds merged
by the run model as they arrive (late ones too), an engine lost mid-run, saturation judged per
engine, and `report --merge` of runs split unevenly over machines, aligned by wall clock."""

from __future__ import annotations

import sys
from dataclasses import replace

import psutil
import pytest

from loadtui.cli import options
from loadtui.cli.main import main
from loadtui.cli.options import cores
from loadtui.cli.parser import build_parser
from loadtui.engine import hdr, schedule
from loadtui.engine.messages import (
    EngineConfig,
    EngineFailed,
    EngineFinished,
    EngineRequest,
    EngineStarted,
    IntervalSnapshot,
    Share,
)
from loadtui.engine.plan import LoadPlan, split
from loadtui.report.merge import merge_documents, together
from loadtui.run import document, verdicts
from loadtui.run.model import RunModel
from loadtui.run.rundoc import RunDocument
from loadtui.run.runner import Runner
from loadtui.run.spec import RunSpec
from tests import synthetic
from tests.helpers import added, parse
from tests.synthetic import EPOCH, T0, TARGET, snapshot


# ---- the split -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("total", "parts", "expected"),
    [(100, 3, [34, 33, 33]), (10, 2, [5, 5]), (7, 4, [2, 2, 2, 1]), (5, 1, [5])],
)
def test_users_are_split_as_evenly_as_possible(total, parts, expected):
    assert split(total, parts) == expected


def test_each_engine_gets_its_share_and_its_place_in_the_schedule():
    plan = LoadPlan(mode="open", users=10, spawn_rate=20.0, rate=300.0)
    config = EngineConfig(
        "127.0.0.1", 80, (EngineRequest("GET", (b"GET / HTTP/1.1\r\n\r\n",)),), plan
    )
    assert config.split(1) == [config]
    three = config.split(3)
    assert [c.plan.users for c in three] == [4, 3, 3]
    assert [c.share for c in three] == [Share(0, 3), Share(1, 3), Share(2, 3)]
    assert sum(c.plan.spawn_rate for c in three) == pytest.approx(20.0)
    assert all(c.agreed_start and c.plan.rate == 300.0 for c in three)


def test_in_open_loop_request_i_of_the_schedule_takes_row_i_whatever_the_engines():
    """Engine k sends requests k, k + N, ... and takes its rows round-robin: request i of the
    one schedule is row i mod rows, as with one engine. Closed loop, a mix and random order
    give every engine every row."""
    rows = 7
    payloads = tuple(f"GET /row/{r} HTTP/1.1\r\n\r\n".encode() for r in range(rows))
    one = EngineRequest("GET /row/{r}", payloads)
    open_loop = LoadPlan(mode="open", users=12, rate=100.0)
    for count in range(1, 6):
        given = EngineConfig("127.0.0.1", 80, (one,), open_loop).split(count)
        for i in range(3 * rows * count):
            (request,) = given[i % count].requests  # engine i mod N sends request i ...
            turn = i // count  # ... as its turn-th, taking its rows round-robin
            assert request.payloads[turn % len(request.payloads)] == payloads[i % rows]
    others = [
        EngineConfig("127.0.0.1", 80, (one,), LoadPlan(users=12)),
        EngineConfig("127.0.0.1", 80, (replace(one, random_order=True),), open_loop),
        EngineConfig("127.0.0.1", 80, (one, replace(one, name="other")), open_loop),
    ]
    for config in others:
        assert all(c.requests == config.requests for c in config.split(3))


class UsersAsked:
    """Engines that only remember the users each was asked to run (no process needed)."""

    def __init__(self) -> None:
        self.users: dict[int, int] = {}

    def set_users(self, index: int, users: int) -> None:
        self.users[index] = users


def test_a_change_of_users_is_split_over_the_engines_still_running():
    runner = Runner(RunSpec("/", LoadPlan(users=6), target=TARGET, engines=3))
    runner.model = RunModel(target=TARGET, plan=LoadPlan(users=6), engines=3)
    runner.engines = asked = UsersAsked()  # type: ignore[assignment]
    runner.set_users(9)
    assert asked.users == {0: 3, 1: 3, 2: 3}
    runner.model.add_engine_message(EngineFailed("killed"), 1)
    runner.set_users(9)
    assert asked.users == {0: 5, 1: 3, 2: 4}  # engine 1 was lost: not asked again
    runner.set_users(1)
    assert asked.users[0] == 1 and asked.users[2] == 1  # each keeps one user at least


# ---- the model ---------------------------------------------------------------------------------
def two_engine_model(
    arrivals: list[tuple[int, IntervalSnapshot | EngineFailed]], seconds: int
) -> RunModel:
    """Two engines started together; messages fed in the order given, then both finish."""
    model = RunModel(target=TARGET, plan=LoadPlan(users=20, duration_s=seconds), engines=2)
    model.add_engine_message(EngineStarted(T0, EPOCH), 0)
    model.add_engine_message(EngineStarted(T0 + 0.0004, EPOCH + 0.0004), 1)
    lost = set()
    for engine, message in arrivals:
        model.add_engine_message(message, engine)
        if isinstance(message, EngineFailed):
            lost.add(engine)
    for engine in {0, 1} - lost:
        model.add_engine_message(EngineFinished("duration"), engine)
    model.finish("finished")
    return model


def interleaved(
    a: list[IntervalSnapshot], b: list[IntervalSnapshot]
) -> list[tuple[int, IntervalSnapshot]]:
    """Engine 1's second, engine 2's, engine 1's next, ..."""
    return [pair for x, y in zip(a, b, strict=True) for pair in ((0, x), (1, y))]


def test_the_engines_seconds_add_up_losslessly():
    a = [snapshot(s, [10.0 * s, 20.0], users=10) for s in (1, 2, 3)]
    b = [snapshot(s, [5.0, 7.0 * s, 900.0], users=10, cpu_percent=40.0) for s in (1, 2, 3)]
    model = two_engine_model(interleaved(a, b), 3)
    timeline = model.timeline()
    assert [(e.requests, e.users, e.engines) for e in timeline] == [(5, 20, 2)] * 3
    for entry, (x, y) in zip(timeline, zip(a, b, strict=True), strict=True):
        assert hdr.recorded(hdr.decode(entry.hdr)) == added(x.latency_hdr, y.latency_hdr)
        assert entry.generator.cpu_percent == 40.0  # the busiest engine's
    every = [s.latency_hdr for s in a + b]
    assert hdr.recorded(model.histogram()) == added(*every)
    assert model.summary().requests == 15 == sum(e.requests for e in timeline)
    totals = model.generator_totals()
    assert [(e.engine, e.requests) for e in totals.engines] == [(1, 6), (2, 9)]
    assert totals.cpu_percent_mean == 40.0


def test_a_late_engine_is_added_to_its_own_second():
    """Engine 2's second 1 arrives after engine 1's seconds 1-3: still second 1's."""
    a = [snapshot(s, [10.0]) for s in (1, 2, 3)]
    b = [snapshot(s, [50.0, 60.0]) for s in (1, 2, 3)]
    order = [(0, a[0]), (0, a[1]), (0, a[2]), (1, b[0]), (1, b[1]), (1, b[2])]
    model = two_engine_model(order, 3)
    assert [(e.requests, e.engines) for e in model.timeline()] == [(3, 2)] * 3
    assert model.timeline()[0].max_ms == pytest.approx(60.0, rel=0.01)


def test_a_second_is_shown_before_every_engine_gave_it():
    model = RunModel(target=TARGET, plan=LoadPlan(users=20), engines=2)
    model.add_engine_message(EngineStarted(T0, EPOCH), 0)
    model.add_engine_message(snapshot(1, [10.0, 11.0]), 0)
    assert [(e.requests, e.engines) for e in model.timeline()] == [(2, 1)]
    assert not model.engine_done


def test_a_lost_engine_keeps_its_seconds_and_the_run_goes_on():
    a = [snapshot(s, [10.0]) for s in (1, 2, 3, 4)]
    b = [snapshot(s, [20.0]) for s in (1, 2)]
    died = EngineFailed("the engine process ended (exit code -9)")
    order = [(0, a[0]), (1, b[0]), (0, a[1]), (1, b[1]), (1, died), (0, a[2]), (0, a[3])]
    model = two_engine_model(order, 4)
    assert model.failure is None and model.end_reason == "duration"
    assert [e.engines for e in model.timeline()] == [2, 2, 1, 1]
    assert model.summary().requests == 6
    verdict = next(v for v in verdicts.compute(model) if v.code == "engine_lost")
    assert verdict.severity == "warning"
    assert verdict.message.startswith("Engine 2 of 2 was lost")
    assert "exit code -9" in verdict.message and "the other 1 engine" in verdict.message
    lost = model.generator_totals().engines[1]
    assert lost.lost and lost.lost_reason == died.message
    doc = document.build(model, verdicts.compute(model))
    assert RunDocument.model_validate_json(doc.to_json()) == doc


def test_the_requests_waiting_at_the_end_are_every_engines_but_a_lost_ones():
    a = [snapshot(s, [10.0], in_flight=4, oldest_s=0.5 * s) for s in (1, 2, 3)]
    b = [snapshot(s, [10.0], in_flight=6, oldest_s=2.0 * s) for s in (1, 2, 3)]
    model = two_engine_model(interleaved(a, b), 3)
    summary = model.summary()
    assert (summary.in_flight_at_end, summary.oldest_in_flight_s) == (10, 6.0)
    last = model.timeline()[-1]
    assert (last.in_flight, last.oldest_in_flight_s) == (10, 6.0)  # added; the oldest's wait
    c = [snapshot(s, [10.0], in_flight=3, oldest_s=1.0) for s in (1, 2, 3)]
    died = EngineFailed("the engine process ended (exit code -9)")
    order = [(0, c[0]), (1, b[0]), (0, c[1]), (1, died), (0, c[2])]
    summary = two_engine_model(order, 3).summary()
    assert (summary.in_flight_at_end, summary.oldest_in_flight_s) == (3, 1.0)


def test_every_engine_lost_fails_the_run():
    order = [(0, snapshot(1)), (1, snapshot(1)), (0, EngineFailed("a")), (1, EngineFailed("b"))]
    model = two_engine_model(order, 3)
    assert model.engine_done and model.end_reason is None
    assert model.failure == "every engine was lost; engine 2 of 2: b"
    assert (
        next(v for v in verdicts.compute(model) if v.code == "engine_lost").severity == "critical"
    )


def test_one_saturated_engine_is_enough():
    a = [snapshot(s, cpu_percent=20.0) for s in (1, 2, 3, 4)]
    b = [snapshot(s, cpu_percent=96.0) for s in (1, 2, 3, 4)]
    model = two_engine_model(interleaved(a, b), 4)
    verdict = next(v for v in verdicts.compute(model) if v.code == "generator_saturated")
    assert verdict.message.startswith("Engine 2 of 2 was saturated for up to 3 s")
    assert verdict.evidence["engines"] == [2]
    assert model.generator_totals().saturated


def test_one_engine_is_judged_and_written_as_before():
    model = RunModel(target=TARGET, plan=LoadPlan(users=10, duration_s=3))
    model.add_engine_message(EngineStarted(T0, EPOCH))
    for s in (1, 2, 3):
        model.add_engine_message(snapshot(s, cpu_percent=95.0))
    model.add_engine_message(EngineFailed("the engine process ended"))
    model.finish("failed")
    assert model.failure == "the engine process ended"
    codes = [v.code for v in verdicts.compute(model)]
    assert "engine_lost" not in codes and "generator_saturated" in codes
    saturated = next(v for v in verdicts.compute(model) if v.code == "generator_saturated")
    assert saturated.message.startswith("The load generator itself was saturated for 2 s")
    assert [e.engines for e in model.timeline()] == [1, 1, 1]


# ---- report --merge: runs split unevenly over machines -------------------------------------
def machine_run(users: int, started: float, seconds: int, per_second: int) -> RunDocument:
    """A run of ``seconds`` one-second intervals from one machine that began at ``started``
    (seconds after EPOCH), ``per_second`` requests each second."""
    model = RunModel(target=TARGET, plan=LoadPlan(users=users, duration_s=seconds))
    model.add_engine_message(EngineStarted(T0, EPOCH + started))
    for s in range(1, seconds + 1):
        model.add_engine_message(snapshot(s, [10.0 + s] * per_second, users=users))
    model.add_engine_message(EngineFinished("duration"))
    model.finish("finished")
    return document.build(model, verdicts.compute(model))


def test_uneven_splits_merge_aligned_by_wall_clock():
    """34/33/33 users on three machines that began 0, 2.1 and 0.4 s apart."""
    docs = [machine_run(34, 0.0, 5, 4), machine_run(33, 2.1, 5, 3), machine_run(33, 0.4, 5, 2)]
    assert together(docs, lambda d: d) == [docs]
    merged = merge_documents(docs)
    assert merged.load.users == 100
    # machine 2's first second is the merged third, machine 3's the merged first
    assert [e.requests for e in merged.timeline] == [6, 6, 9, 9, 9, 3, 3]
    assert [e.engines for e in merged.timeline] == [2, 2, 3, 3, 3, 1, 1]
    assert [e.users for e in merged.timeline] == [67, 67, 100, 100, 100, 33, 33]
    assert merged.timeline[-1].t == pytest.approx(7.1, abs=0.01)
    assert merged.summary.requests == 45 == sum(e.requests for e in merged.timeline)
    assert merged.summary.duration_s == pytest.approx(7.1, abs=0.01)
    every = [e.hdr for d in docs for e in d.timeline]
    assert hdr.recorded(hdr.decode(merged.histogram.data)) == added(*every)
    assert [e.engine for e in merged.generator.engines] == [1, 2, 3]


def test_merged_runs_add_their_requests_waiting_at_the_end_and_keep_the_oldest():
    docs = [machine_run(34, 0.0, 5, 4), machine_run(33, 0.4, 5, 3)]
    waiting = [(5, 1.5), (7, 0.5)]
    docs = [
        d.model_copy(
            update={
                "summary": d.summary.model_copy(
                    update={"in_flight_at_end": n, "oldest_in_flight_s": oldest}
                )
            }
        )
        for d, (n, oldest) in zip(docs, waiting, strict=True)
    ]
    merged = merge_documents(docs).summary
    assert (merged.in_flight_at_end, merged.oldest_in_flight_s) == (12, 1.5)
    older = [
        d.model_copy(update={"summary": d.summary.model_copy(update={"in_flight_at_end": None})})
        for d in docs
    ]
    assert merge_documents(older).summary.in_flight_at_end is None  # files that did not say


def test_runs_one_after_another_stay_apart():
    first, second = machine_run(10, 0.0, 3, 2), machine_run(40, 5.0, 3, 2)
    third = machine_run(10, 5.5, 3, 2)
    assert together([first, second, third], lambda d: d) == [[first], [second, third]]
    never = first.model_copy(update={"started_at": None})
    assert together([never, first], lambda d: d) == [[never], [first]]


# ---- bad input: one line, exit 2, nothing started --------------------------------------------
@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["run", "5", "--engines", "0"], "'0' must be from 1 to 1,024"),
        (["run", "5", "--engines", "many"], "'many' is not a whole number"),
        (["run", "5", "--engines", str(cores() + 1)], f"this machine has {cores()} cores"),
        (["run", "5", "--engines", "2", "--users", "1"], "--engines 2 share --users 1"),
        (["matrix", "--engines", "2", "--users", "1,10"], "--engines 2 share --users 1"),
        (["--engines", str(cores() + 1)], f"this machine has {cores()} cores"),
    ],
)
def test_engines_beyond_the_cores_or_the_users_are_refused(argv, words):
    children = psutil.Process().children()
    code, message = parse(argv)
    assert code == 2
    (line,) = message.strip().splitlines()
    assert words in line
    assert psutil.Process().children() == children


def test_auto_is_a_core_each_counting_a_spawned_server():
    args = build_parser().parse_args(["run", "5", "--engines", "auto", "--users", "1000"])
    assert options.run_spec(args).engines == max(1, cores() - 1)
    args = build_parser().parse_args(
        ["run", "/x", "--target", "http://127.0.0.1:9", "--engines", "auto"]
    )
    assert options.run_spec(args).engines == cores()


def test_ray_without_the_extra_names_the_install_command(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    for argv in (["run", "5", "--ray", "local"], ["matrix", "--ray", "auto"], ["--ray", "local"]):
        assert main(argv) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.endswith("--ray needs Ray, an optional extra: pip install 'loadtui[ray]'")


def test_machines_that_ramped_alike_merge_into_one_ramp_of_their_sum():
    def ramped(text: str) -> RunDocument:
        plan = LoadPlan(mode="open", users=10, rate=60.0, duration_s=5, stages=schedule.parse(text))
        return document.build(synthetic.model(5, plan=plan))

    merged = merge_documents([ramped("10:60@3s,60@2s"), ramped("20:60@3s,60@2s")])
    assert merged.load.stages_text == "30:120@3s,120@2s" and merged.load.rate == 120.0
    unlike = merge_documents([ramped("10:60@3s,60@2s"), ramped("10:60@5s")])
    assert unlike.load.stages is None  # no one ramp is their sum
