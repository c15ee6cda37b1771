"""`loadtui capacity` against real servers: an app whose capacity is known by construction
(a def route sleeping 0.2 s, the thread limiter at 10 tokens: 50 req/s) and a fast route that
never breaks below a low --max-rate (both put load on the machine and judge its pace: the
"load" group); and Ctrl-C mid-search (a light load). Short steps (2 s) keep them brief."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from loadtui.capacity.capdoc import CapacityDocument
from loadtui.run import runfile
from tests.apps import serve_app
from tests.helpers import LOAD, get, loadtui, start, wait_for

pytestmark = pytest.mark.e2e

KNOWN = """
    import time

    from fastapi import FastAPI
    from loadtui.server import instrument

    app = FastAPI()
    served = {"slow": 0}


    @app.get("/slow")
    def slow():
        time.sleep(0.2)
        served["slow"] += 1
        return {"ok": True}


    @app.get("/fast")
    async def fast():
        return {"ok": True}


    @app.get("/served")
    async def count():
        return served


    instrument(app, threads=10)
"""
SHORT = ("--ramp-step", "2", "--step", "2")


def _search(url: str, route: str, tmp_path: Path, *args: str) -> tuple[int, CapacityDocument]:
    out = tmp_path / "cap.json"
    done = loadtui(
        "capacity", route, "--target", url, "--out", tmp_path / "runs", "--json", out, *SHORT,
        *args, timeout=240,
    )  # fmt: skip
    assert done.returncode in (0, 3), done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    return done.returncode, CapacityDocument.model_validate_json(out.read_text())


@LOAD
def test_a_known_capacity_is_found_and_the_full_thread_pool_named(tmp_path: Path) -> None:
    with serve_app(KNOWN, tmp_path) as app:
        code, doc = _search(
            app.url, "/slow", tmp_path, "--slo", "p99<1s", "--min-rate", "40", "--resolution", "10"
        )
        served = get(app.url + "/served").json()["slow"]
    assert code == 0
    # the server's own count: every answer loadtui recorded was served (some more were served
    # after their step ended, unanswered by then)
    assert 0 < sum(step.requests for step in doc.steps) <= served
    assert doc.held_rps is not None and 45 <= doc.held_rps <= 55, doc.steps
    assert doc.broke_at_rps is not None and doc.broke_at_rps > doc.held_rps
    assert doc.limited_by in ("server", "slo")
    assert "threadpool_saturated" in doc.verdicts
    assert any(v.code == "threadpool_saturated" for v in doc.explanation)
    # every step has its run file, which says the rate it was asked
    run_dir = Path(doc.run_dir or "")
    for step in doc.steps:
        assert step.run_file is not None
        run = runfile.load(run_dir / step.run_file)
        assert run.load.mode == "open" and run.load.rate == step.rate_rps
        assert run.summary.requests == step.requests
    page = (run_dir / "capacity.html").read_text()
    assert "<svg" in page and "<script" not in page and "http://" not in page.split("<main>")[1]


@LOAD
def test_a_route_that_never_breaks_says_so_instead_of_inventing_a_capacity(
    tmp_path: Path,
) -> None:
    with serve_app(KNOWN, tmp_path) as app:
        code, doc = _search(
            app.url, "/fast", tmp_path, "--slo", "p99<500ms", "--min-rate", "20", "--max-rate", "40"
        )
    assert code == 0
    assert (doc.held_rps, doc.broke_at_rps, doc.limited_by) == (40, None, "max_rate")
    assert doc.verdicts == []
    assert [(s.phase, s.rate_rps) for s in doc.steps] == [
        ("ramp", 20), ("ramp", 40), ("steady", 40)
    ]  # fmt: skip
    assert all(s.result == "held" for s in doc.steps)
    assert json.loads((tmp_path / "cap.json").read_text())["schema"] == "loadtui.capacity/1"


def test_ctrl_c_ends_the_search_keeping_the_steps_done(tmp_path: Path) -> None:
    out, runs = tmp_path / "cap.json", tmp_path / "runs"
    with serve_app(KNOWN, tmp_path) as app:
        proc = start(
            "capacity", "/fast", "--target", app.url, "--slo", "p99<500ms", "--min-rate", "20",
            "--max-rate", "1000", "--out", runs, "--json", out, *SHORT,
        )  # fmt: skip
        try:
            assert wait_for(lambda: list(runs.glob("*/step-01-*.json")), timeout=60)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    doc = CapacityDocument.model_validate_json(out.read_text())
    assert doc.interrupted and len(doc.steps) >= 1
    assert (Path(doc.run_dir or "") / "capacity.html").is_file()
