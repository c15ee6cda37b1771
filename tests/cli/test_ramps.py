"""`loadtui run --rate` with stages, and a scenario's ``[load]`` table (loadtui.cli.options,
loadtui.cli.bounds, loadtui.targets.scenario_load): the plan follows the stages and lasts their
total, the command line wins over the file, bad stages are one line and exit 2 before anything
is sent; against a real server that counts what it receives (tests/apps.py), a ramp sends its
one schedule (one engine or two) and the run file says each second's intended requests."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest

from loadtui.cli import options
from loadtui.cli.headless import ProgressLine
from loadtui.cli.parser import build_parser
from loadtui.engine.plan import LoadPlan
from loadtui.engine.schedule import Schedule, Stage
from loadtui.report import tables
from loadtui.run import document, runfile, stats
from loadtui.run.rundoc import RunDocument
from tests import synthetic
from tests.apps import assert_one_schedule, received
from tests.helpers import LOAD, loadtui, parse

MIX = """
[[requests]]
name = "hit"
path = "/hit"
"""


def scenario(tmp_path: Path, load: str) -> Path:
    path = tmp_path / "mix.toml"
    path.write_text(load + MIX)
    return path


def run_plan(argv: list[str]):
    return options.run_spec(build_parser().parse_args(["run", *argv])).plan


# ---- the plan ---------------------------------------------------------------------------------
def test_stages_make_an_open_loop_that_lasts_their_total():
    plan = run_plan(["5", "--rate", "10@10s,50@30s,50:200@1m"])
    assert plan.mode == "open" and plan.duration_s == 100.0 and plan.rate == 200.0
    assert plan.stages == (Stage(10, 10, 10), Stage(50, 50, 30), Stage(50, 200, 60))
    assert plan.schedule().total == 100 + 1500 + 7500
    assert run_plan(["5", "--rate", "10:20@5s", "--duration", "5"]).duration_s == 5.0


def test_a_plain_rate_is_held_for_the_duration_as_before():
    plan = run_plan(["5", "--rate", "50", "--duration", "2"])
    assert (plan.rate, plan.duration_s, plan.stages) == (50.0, 2.0, ())
    assert plan.schedule().total == 100
    assert run_plan(["5"]).duration_s == 30.0  # the default, closed loop


def test_the_scenario_load_table_gives_the_rate_and_the_command_line_wins(tmp_path):
    text = scenario(tmp_path, '[load]\nrate = "10:30@4s"\n')
    assert run_plan(["--scenario", str(text)]).stages == (Stage(10, 30, 4),)
    tables = scenario(
        tmp_path,
        '[[load.stages]]\nrate = 5\nduration = "2s"\n'
        "[[load.stages]]\nfrom = 5\nto = 15\nduration = 3\n",
    )
    plan = run_plan(["--scenario", str(tables)])
    assert plan.stages == (Stage(5, 5, 2), Stage(5, 15, 3)) and plan.duration_s == 5.0
    held = scenario(tmp_path, "[load]\nrate = 40\n")
    plan = run_plan(["--scenario", str(held), "--duration", "3"])
    assert (plan.rate, plan.stages, plan.duration_s) == (40.0, (), 3.0)
    plan = run_plan(["--scenario", str(text), "--rate", "7@2s"])
    assert plan.stages == (Stage(7, 7, 2),)


# ---- the run file and what is shown -----------------------------------------------------------
def test_each_second_says_what_it_intended_and_old_files_still_load():
    stages = (Stage(10, 30, 3),)
    plan = LoadPlan(mode="open", users=5, duration_s=3, rate=30, stages=stages)
    seconds = [
        replace(synthetic.snapshot(n, [20.0] * due), intended=due)
        for n, due in ((1, 12), (2, 20), (3, 28))
    ]
    model = synthetic.model(3, per_second=seconds, plan=plan)
    doc = document.build(model, [])
    again = RunDocument.model_validate_json(doc.model_dump_json())
    assert [e.intended for e in again.timeline] == [12, 20, 28]
    assert [e.intended_rps for e in again.timeline] == [12.0, 20.0, 28.0]
    assert again.load.stages_text == "10:30@3s"
    assert "open loop 10:30@3s (req/s@s)" in tables.describe_load(again)
    assert tables.load_label(again) == "10:30@3s open"
    line = ProgressLine(io.StringIO(), "run")._line(model, "")
    assert "(intended 28)" in line
    # two engines' seconds add their intended requests; a file from before has none
    both = stats.add_seconds([again.timeline[0], again.timeline[0]])
    assert both.intended == 24
    old = doc.model_dump(mode="json", exclude_none=True)
    for entry in old["timeline"]:
        entry.pop("intended")
    del old["load"]["stages"]
    loaded = RunDocument.model_validate(old)
    assert loaded.timeline[0].intended is None and loaded.load.stages_text is None


# ---- bad input: one line, exit 2 ------------------------------------------------------------
@pytest.mark.parametrize(
    ("rate", "words"),
    [
        ("10:200", "needs its duration"),
        ("ten@5s", "'ten' is not a number"),
        ("10@5s,", "give stages as"),
        ("10@0s", "more than 0 s"),
        ("10@-5s", "backwards in time"),
        ("-10:20@5s", "0 or more"),
        ("10:1e9@5s", "above 100,000"),
        ("10@0.5s", "the stages last 0.5 s in all"),
        ("10@200h", "the stages last 720000 s in all"),
        ("0@5s", "schedule no request"),
    ],
)
def test_bad_stages_are_one_line_naming_rate(rate, words):
    code, message = parse(["run", "5", f"--rate={rate}"])  # "-10..." is a value, not an option
    assert code == 2 and "--rate" in message and words in message, message
    assert len(message.strip().splitlines()) == 1


def test_a_duration_that_disagrees_with_the_stages_is_refused(tmp_path):
    said = (
        "--duration 30 s: the rate's stages last 5 s, and the run lasts them: leave --duration out"
    )
    assert parse(["run", "5", "--rate", "10:20@5s", "--duration", "30"]) == (2, said)
    path = scenario(tmp_path, '[load]\nrate = "10:20@5s"\n')  # the file's stages too
    assert parse(["run", "--scenario", str(path), "--duration", "30"]) == (2, said)


@pytest.mark.parametrize(
    ("load", "words"),
    [
        ('[load]\nrate = "10:200"\n', "[load] '10:200': a stage needs its duration"),
        ('[load]\nrate = "10@-1s"\n', "backwards in time"),
        ("[load]\nrate = true\n", "is not a number or stages"),
        ("[load]\nrate = 1e9\n", "[load] rate: '1000000000.0' must be a number above 0"),
        ('[load]\nrate = "5:1e9@3s"\n', "[load] rate: '5:1e+09@3s': 1e+09 req/s is above"),
        ("[load]\nrate = 5\nspeed = 3\n", "unknown key 'speed'"),
        ("[load]\n", "give rate = ... or [[load.stages]]"),
        ("load = 3\n", "must be a table"),
        ('[[load.stages]]\nfrom = 5\nduration = "3s"\n', "stage 1: give rate (held) or from"),
        ("[[load.stages]]\nrate = 5\n", "stage 1: give its duration"),
    ],
)
def test_a_bad_load_table_is_one_line_naming_the_file(tmp_path, load, words):
    path = scenario(tmp_path, load)
    code, message = parse(["run", "--scenario", str(path)])
    assert code == 2 and message.startswith(f"{path}: ") and words in message, message
    assert len(message.strip().splitlines()) == 1


# ---- against a real server ------------------------------------------------------------------
@pytest.mark.e2e
def test_bad_stages_send_nothing(counter):
    result = loadtui("run", "/hit", "--target", counter, "--rate", "10@-1s", "--users", "2")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "backwards in time" in result.stderr and received(counter)["hits"] == 0


@pytest.mark.e2e
@LOAD
@pytest.mark.parametrize("engines", [1, 2])
def test_a_ramp_sends_its_one_schedule_and_says_what_each_second_intended(
    counter, tmp_path, engines
):
    """20 → 60 req/s over 3 s: 120 requests, request i asking for /hit/i (row i, whichever
    engine sends it), so that the server counts which requests of the schedule it received."""
    out, rows = tmp_path / "run.json", tmp_path / "rows.csv"
    rows.write_text("n\n" + "".join(f"{n}\n" for n in range(400)))  # none comes again
    result = loadtui(
        "run", "/hit/{n}", "--target", counter, "--data-file", rows, "--rate", "20:60@3s",
        "--users", "6", "--engines", str(engines), "--json", out,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = runfile.load(out)
    schedule = Schedule((Stage(20, 60, 3),))
    assert schedule.total == 120 and doc.load.duration_s == 3.0
    assert doc.load.stages is not None and doc.load.stages_text == "20:60@3s"
    numbers = received(counter)["numbers"]
    assert_one_schedule(doc, numbers, schedule.total)
    # the server got what loadtui sent: every request of the schedule but those not sent yet
    # when the run ended (a busy machine's last instant)
    assert len(numbers) + (doc.summary.unsent or 0) == schedule.total
    intended = [entry.intended for entry in doc.timeline]
    assert sum(intended) == schedule.total  # type: ignore[arg-type]
    assert len(intended) == 3 and intended[0] < intended[1] < intended[2], intended
    for entry in doc.timeline:  # each second's share of the ramp, when its snapshot was taken
        asked = schedule.integral(entry.t) - schedule.integral(entry.t - entry.length_s)
        assert abs(entry.intended - asked) <= max(3.0, 0.1 * asked), (entry.t, intended)
