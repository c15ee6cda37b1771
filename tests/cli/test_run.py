"""loadtui.cli.headless: `loadtui run` and `loadtui matrix` end to end: real servers, real HTTP,
real files."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from loadtui.engine import hdr
from loadtui.run import runfile
from loadtui.run.rundoc import RunDocument
from tests.apps import free_port, serve_app
from tests.helpers import LOAD, loadtui, start, wait_for, wait_load

pytestmark = pytest.mark.e2e


@LOAD
def test_closed_loop_throughput_matches_users_over_cycle_time(tmp_path):
    out = tmp_path / "run.json"
    result = loadtui(
        "run", "5", "--users", "10", "--spawn-rate", "100", "--duration", "5", "--json", str(out)
    )
    assert result.returncode == 0, result.stderr
    summary = runfile.load(out).summary
    latency = summary.latency_ms
    # Little's law: users / (mean latency + mean think time), with the latency measured rather
    # than assumed, so that a machine busy with other tests moves both sides alike
    expected = 10 / (latency.mean / 1000 + 0.3)
    assert expected * 0.85 <= summary.rps <= expected * 1.15
    assert 195 <= latency.p50 <= 300  # the route's 0.2 s of inner work, little more
    assert "req/s" in result.stdout and str(out) in result.stdout


def test_run_file_validates_and_its_histogram_holds_every_request(tmp_path):
    out = tmp_path / "run.json"
    result = loadtui("run", "0", "--users", "5", "--duration", "3", "--json", str(out))
    assert result.returncode == 0, result.stderr
    doc = runfile.load(out)
    assert RunDocument.model_validate_json(out.read_text()) == doc
    histogram = hdr.decode(doc.histogram.data)
    assert histogram.get_total_count() == doc.summary.requests > 0
    assert sum(entry.requests for entry in doc.timeline) == doc.summary.requests
    interval_total = hdr.new_histogram()
    for entry in doc.timeline:
        hdr.add_encoded(interval_total, entry.hdr)
    assert interval_total.get_total_count() == doc.summary.requests
    assert doc.target.spawned is True and doc.load.mode == "closed"
    assert doc.state == "finished" and doc.interrupted is False
    assert len(doc.timeline) == 3
    assert doc.environment.packages["uvicorn"]


@LOAD
def test_open_loop_above_capacity_records_corrected_and_uncorrected(tmp_path):
    out = tmp_path / "open.json"
    # 5 connections x 1 / 0.2 s = 25 req/s of capacity, asked for 60 req/s
    result = loadtui(
        "run", "5", "--rate", "60", "--users", "5", "--duration", "6", "--json", str(out)
    )
    assert result.returncode == 0, result.stderr
    summary = runfile.load(out).summary
    corrected, uncorrected = summary.latency_ms, summary.latency_uncorrected_ms
    assert uncorrected.p99 < 400
    assert corrected.p99 > 5 * uncorrected.p99
    assert summary.send_lag_ms.p99 > 1000
    assert summary.unsent > 0
    assert "uncorrected" in result.stdout


def test_sigint_writes_the_partial_run_and_stops_the_server(tmp_path):
    out = tmp_path / "partial.json"
    proc = start("run", "5", "--users", "20", "--duration", "60", "--json", out)
    wait_load(proc)
    time.sleep(2.5)  # the engine measures for 2.5 s or more
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130
    doc = runfile.load(out)
    assert doc.interrupted is True and doc.state == "interrupted"
    assert doc.summary.requests > 0
    assert 2.5 <= doc.summary.duration_s < 20
    assert "[interrupted]" in stdout
    server_pid = doc.target.pid
    assert wait_for(lambda: not psutil.pid_exists(server_pid), timeout=5)


def test_unreachable_target_is_exit_1_with_one_line():
    result = loadtui("run", "/ping", "--target", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unreachable" in lines[0]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["run", "5", "--users", "0"], "from 1 to 100,000"),
        (["run", "5", "--users", "-4"], "from 1 to 100,000"),
        (["run", "5", "--think-min", "0.5", "--think-max", "0.1"], "think-max"),
        (["run", "5", "--duration", "soon"], "not a number"),
        (["run", "5", "--duration", "nan"], "a number from 1 to"),
        (["run", "5", "--rate", "0"], "above 0"),
        (["run", "nope"], "unknown route"),
        (["run", "5", "--json", "/proc/version/run.json"], "cannot write"),
        (["run", "/ping", "--target", "http://192.0.2.10:8000"], "not a loopback"),
        (["run", "/ping", "--target", "ftp://127.0.0.1:8000"], "only http:// and https://"),
        (["run", "/ping", "--target", "http://127.0.0.1:8000", "--threads", "4"], "--threads"),
        (["matrix", "--users", "10,x"], "not a whole number"),
        (["matrix", "--routes", "5,zz"], "unknown route"),
    ],
)
def test_invalid_values_are_exit_2_with_one_line(args, words):
    result = loadtui(*args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_matrix_runs_every_route_and_load_on_fresh_servers(tmp_path):
    result = loadtui(
        "matrix", "--routes", "5,4", "--users", "4", "--duration", "3", "--out", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    files = sorted(tmp_path.glob("*/route-*.json"))
    assert [f.name for f in files] == ["route-4-4u.json", "route-5-4u.json"]
    docs = [runfile.load(f) for f in files]
    assert len({d.target.url for d in docs}) == 2  # a fresh server for every run
    assert all(d.target.spawned for d in docs)
    header = result.stdout.splitlines()[0].split()
    assert header[:6] == ["route", "load", "time", "req/s", "mean", "p50"]
    # route 4 blocks its loop; on a machine busy with other tests route 5's loop may also be
    # held up long enough to count, so 4 must be named, not named alone
    blocked = re.search(r"^\s*event_loop_blocked: (.*)$", result.stdout, re.MULTILINE)
    assert blocked and "4@4u" in blocked.group(1).split(", "), result.stdout
    assert Path(tmp_path).joinpath(files[0].parent.name).is_dir()


DEMO_ONLY = ("fastapi", "textual", "loadtui.server.routes", "loadtui.server.app")


def imported(stderr: str) -> set[str]:
    """Module names from ``python -X importtime``'s report."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if "import time" in line}


def test_runs_on_a_target_and_reports_leave_the_demo_app_and_the_tui_unimported(
    tmp_path, demo_server
):
    out = tmp_path / "run.json"
    commands = [
        ["run", "/ping", "--target", demo_server.url, "--duration", "1", "--users", "2"],
        ["report", str(out)],
    ]
    for args in commands:
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "loadtui", *args]
            + (["--json", str(out)] if args[0] == "run" else []),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        modules = imported(result.stderr)
        assert "loadtui.cli.main" in modules
        assert not {m for m in modules if m.startswith(DEMO_ONLY)}, args


def test_the_engine_process_imports_no_web_framework_tui_or_http_library():
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import loadtui.workers"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    modules = imported(result.stderr)
    assert "loadtui.workers" in modules
    heavy = ("fastapi", "starlette", "textual", "pydantic", "httpx", "jsonschema", "rich")
    assert not {m for m in modules if m.startswith(heavy)}


SIDECAR_APP = """
    import os
    from fastapi import FastAPI
    from loadtui import instrument

    app = FastAPI()

    @app.get("/items")
    async def items():
        return {"pid": os.getpid()}

    instrument(app, metrics_port=int(os.environ["TEST_METRICS_PORT"]))
"""


def test_the_run_file_names_the_sidecar_and_worker_the_probe_found(tmp_path):
    sidecar_port = free_port()
    env = {"TEST_METRICS_PORT": str(sidecar_port)}
    with serve_app(SIDECAR_APP, tmp_path, env=env, ready_path="/items") as app:
        worker = app.processes()[0].pid
        out = tmp_path / "run.json"
        result = loadtui(
            "run", "/items", "--target", app.url, "--users", "2", "--duration", "3",
            "--json", str(out),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    target = runfile.load(out).target
    assert target.metrics_url == f"http://127.0.0.1:{sidecar_port}"
    assert target.pid == worker
