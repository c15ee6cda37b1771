"""loadtui.fleet.local with loadtui.run.runner and loadtui.run.model: two engine processes as
one run, against a real server that counts what it receives (the referee, tests/apps.py):
every request counted once, the merged histogram the sum of the engines', the open loop's one
schedule shared out (each request of it sent once, read from the data row it asked for), users
changed across both, an engine killed mid-run while the other goes on, and the TUI's pane on
two engines."""

from __future__ import annotations

import signal
import time
from dataclasses import replace

import psutil
import pytest

from loadtui.app import LoadtuiApp
from loadtui.cli import options
from loadtui.cli.parser import build_parser
from loadtui.engine import hdr
from loadtui.engine.messages import IntervalSnapshot
from loadtui.engine.plan import LoadPlan
from loadtui.engine.request_spec import RequestSpec
from loadtui.fleet.engines import Tagged
from loadtui.run import document, runfile
from loadtui.run.runner import Runner
from loadtui.run.spec import RunSpec
from loadtui.targets.target import parse_target
from loadtui.tui.widgets.pane import APPLY_DELAY_S
from tests.apps import assert_one_schedule, received
from tests.helpers import LOAD, added, start, wait_for
from tests.pilot import until

pytestmark = [pytest.mark.e2e, LOAD]


def run_through(spec: RunSpec, during=None) -> tuple[Runner, list[Tagged]]:
    """A run to its end, and every message its engines sent (watched, not changed)."""
    runner = Runner(spec)
    runner.start()
    assert runner.engines is not None
    seen: list[Tagged] = []
    receive = runner.engines.messages

    def watched(timeout: float) -> list[Tagged]:
        found = receive(timeout)
        seen.extend(found)
        return found

    runner.engines.messages = watched  # type: ignore[method-assign]
    started = time.monotonic()
    try:
        while runner.pump(0.2):
            if during is not None:
                during(runner, time.monotonic() - started)
    finally:
        runner.close()
    return runner, seen


def snapshots(seen: list[Tagged], engine: int) -> list[IntervalSnapshot]:
    return [m for k, m in seen if k == engine and isinstance(m, IntervalSnapshot)]


def test_two_engines_count_what_the_server_counts(counter, tmp_path):
    out = tmp_path / "run.json"
    users = 8
    proc = start(
        "run", "/hit", "--target", counter, "--engines", "2", "--users", str(users),
        "--spawn-rate", "100", "--think-min", "0.01", "--think-max", "0.02", "--duration", "3",
        "--json", out,
    )  # fmt: skip
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    doc = runfile.load(out)
    hits = received(counter)["hits"]
    # a request in flight when the run ended reached the server but was never answered
    assert doc.summary.requests <= hits <= doc.summary.requests + doc.timeline[-1].in_flight
    assert doc.summary.errors == 0 and doc.summary.requests > 200
    engines = doc.generator.engines
    assert [(e.engine, e.users) for e in engines] == [(1, 4), (2, 4)]
    assert sum(e.requests for e in engines) == doc.summary.requests
    assert all(e.requests > doc.summary.requests * 0.3 for e in engines)
    assert all(e.started_after_s == 0.0 for e in engines)  # the instant they agreed on
    assert all(entry.engines == 2 and entry.users == users for entry in doc.timeline)
    every = [entry.hdr for entry in doc.timeline if entry.hdr]
    assert hdr.recorded(hdr.decode(doc.histogram.data)) == added(*every)


def test_the_open_loop_shares_one_schedule(counter):
    """Engine 1 sends requests 0, 2, 4, ... and engine 2 requests 1, 3, 5, ... of one schedule
    at 50 per second; request i asks for /hit/i (row i of the data, whichever engine sends it),
    so that the server counts which requests of the schedule it received. Their seconds add up,
    and the merged histogram is the sum of the engines'."""
    rate, seconds = 50.0, 4.0
    due = int(seconds * rate)  # at 0, 0.02, ..., 3.98 s: those due before the end
    rows = tuple({"n": n} for n in range(2 * due))  # more than are sent: no row comes again
    plan = LoadPlan(mode="open", users=6, duration_s=seconds, rate=rate, timeout_s=5)
    target = parse_target(counter, "/hit/{n}")
    shape = RequestSpec(name="", rows=rows)
    runner, seen = run_through(RunSpec("/hit/{n}", plan, target=target, shape=shape, engines=2))
    model = runner.model
    assert model is not None and model.failure is None
    first, second = snapshots(seen, 0), snapshots(seen, 1)
    assert [s.index for s in first] == [s.index for s in second]
    for entry, a, b in zip(model.timeline(), first, second, strict=True):
        assert entry.engines == 2 and entry.requests == a.requests + b.requests
        assert hdr.recorded(hdr.decode(entry.hdr)) == added(a.latency_hdr, b.latency_hdr)
    assert hdr.recorded(model.histogram()) == added(*(s.latency_hdr for s in first + second))
    assert_one_schedule(document.build(model, []), received(counter)["numbers"], due)


def test_users_changed_mid_run_are_spread_over_both_engines(counter):
    plan = LoadPlan(users=4, spawn_rate=100, duration_s=4, think_s=(0.02, 0.05))
    spec = RunSpec("/hit", plan, target=parse_target(counter, "/hit"), engines=2)

    changed = []

    def more(runner: Runner, elapsed: float) -> None:
        if elapsed > 1.5 and not changed:
            runner.set_users(9)
            changed.append(elapsed)

    runner, seen = run_through(spec, more)
    assert snapshots(seen, 0)[0].users == 2 and snapshots(seen, 1)[0].users == 2
    assert snapshots(seen, 0)[-1].users == 5 and snapshots(seen, 1)[-1].users == 4
    assert runner.model.timeline()[-1].users == 9


def test_an_engine_killed_mid_run_is_lost_and_the_other_goes_on(counter, tmp_path):
    out = tmp_path / "run.json"
    proc = start(
        "run", "/hit", "--target", counter, "--engines", "2", "--users", "4",
        "--think-min", "0.02", "--think-max", "0.05", "--duration", "5", "--json", out,
    )  # fmt: skip

    def engines() -> list[psutil.Process]:
        found = psutil.Process(proc.pid).children(recursive=True)
        return [p for p in found if "loadtui.workers" in " ".join(p.cmdline())]

    both = wait_for(lambda: (found := engines()) and len(found) == 2 and found, timeout=30)
    assert both, "two engine processes did not start"
    # the engines start together some time after their processes (a busy machine: a second or
    # more); the load has begun once the server counts a request
    assert wait_for(lambda: received(counter)["hits"] > 0, timeout=30), "no load arrived"
    time.sleep(2.5)  # into the run's third second: its first two are reported by both
    victim = both[1]
    victim.send_signal(signal.SIGKILL)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    doc = runfile.load(out)
    assert doc.state == "finished" and doc.failure is None and doc.end_reason == "duration"
    (lost,) = [e for e in doc.generator.engines if e.lost]
    assert lost.pid == victim.pid and 1.0 < (lost.lost_at_s or 0) < 4.5
    verdict = next(v for v in doc.verdicts if v.code == "engine_lost")
    assert verdict.message.startswith(f"Engine {lost.engine} of 2")
    counts = [entry.engines for entry in doc.timeline]
    assert counts[0] == 2 and counts[-1] == 1 and counts == sorted(counts, reverse=True)
    assert doc.timeline[-1].requests > 0  # the other engine went on
    # the killed engine's last, unreported second reached the server: never more than counted
    assert received(counter)["hits"] >= doc.summary.requests


async def test_the_tui_pane_is_one_run_of_two_engines_and_keys_spread_the_users(counter, tmp_path):
    """`loadtui --engines 2`: the pane's run is one run of two engines, and a user key
    starts the next run with the new users shared between them."""
    argv = ["--target", counter, "--route", "/hit", "--engines", "2", "--users", "4"]
    config = options.tui_config(build_parser().parse_args(argv))
    app = LoadtuiApp(replace(config, hard_exit=False, runs_dir=tmp_path / "runs"))

    def measured(pane, seconds: int) -> bool:
        model = pane.model
        return model is not None and len(model.timeline()) >= seconds

    async with app.run_test(size=(120, 40)) as pilot:
        (pane,) = app.panes()
        await until(pilot, lambda: measured(pane, 2))
        first = pane.run
        await pilot.press("1")  # 10 users
        await pilot.pause(APPLY_DELAY_S + 0.3)
        await until(pilot, lambda: pane.run is not first and measured(pane, 2))
        pane.stop_run()
        await until(pilot, lambda: pane.run.ended)
        docs = [document.build(s.model, []) for s in (first, pane.run)]
        for run in app.all_runs():
            run.stop()
    shares = [[(e.engine, e.users) for e in doc.generator.engines] for doc in docs]
    assert shares == [[(1, 2), (2, 2)], [(1, 5), (2, 5)]]
    for doc in docs:
        # each engine ends its last second when the stop reaches it: one that gets it just
        # before a second's boundary ends there, the other, just after, holds a sliver of the
        # next second alone (a run ended by its duration ends every engine at one boundary)
        *whole, last = doc.timeline
        assert all(entry.engines == 2 for entry in whole) and last.engines in (1, 2)
        assert sum(e.requests for e in doc.generator.engines) == doc.summary.requests > 0
