"""loadtui.run.verdicts (server_stalled), loadtui.run.outcome and the requests still waiting at
the end, end to end: the FastAPI thread-pool / database-pool deadlock on an app written here (a
`def` route whose sync dependency holds a SQLAlchemy session on a sqlite file with a pool of two
connections), and the same app where nothing stalls: a route that uses the pool in one step, and
one that is simply slow. What the app counted is the referee."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from loadtui import exits
from loadtui.run import runfile
from loadtui.run.rundoc import RunDocument, Verdict
from tests.apps import ITEMS, serve_app
from tests.helpers import LOAD, loadtui

pytestmark = [pytest.mark.e2e, LOAD]


def load(tmp_path: Path, route: str, *args: str, code: int) -> tuple[RunDocument, dict, str]:
    """``loadtui run ROUTE`` on ITEMS, served afresh: the run file, what the app answered, and
    what loadtui printed (stdout, then stderr)."""
    out = tmp_path / "run.json"
    with serve_app(ITEMS, tmp_path, ready_path="/count") as app:
        result = loadtui("run", route, "--target", app.url, "--json", out, *args)
        answered = httpx.get(f"{app.url}/count", timeout=5).json()  # async: on the loop
    assert result.returncode == code, result.stdout + result.stderr
    return runfile.load(out), answered, result.stdout + result.stderr


def answered_as_counted(doc: RunDocument, answered: int) -> bool:
    """The app answered what loadtui counted, and at most the requests still waiting at the
    end besides (they were answered after loadtui gave them up)."""
    summary = doc.summary
    return summary.requests <= answered <= summary.requests + (summary.in_flight_at_end or 0)


def verdict(doc: RunDocument, code: str) -> Verdict | None:
    return next((v for v in doc.verdicts if v.code == code), None)


def test_a_pool_deadlock_from_the_start_is_a_stalled_server_and_a_failed_run(tmp_path):
    # 100 users within 0.1 s: the 40 threads are all taken by current_user() waiting for one
    # of the 2 connections before either holder gets a thread for its route
    doc, answered, said = load(
        tmp_path, "/items", "--users", "100", "--spawn-rate", "1000", "--duration", "6",
        code=exits.FAILED,
    )  # fmt: skip
    assert answered["items"] == 0 and doc.summary.requests == 0
    assert all(e.requests == 0 and e.in_flight == 100 for e in doc.timeline[1:])
    assert doc.summary.in_flight_at_end == 100
    assert 5.0 <= doc.summary.oldest_in_flight_s <= 7.0
    stalled = verdict(doc, "server_stalled")
    assert stalled is not None and stalled.severity == "critical"
    assert stalled.evidence["waiting_max"] == 100 and stalled.evidence["longest_s"] >= 5
    assert stalled.message.startswith("No answer for ")
    assert " s while 100 requests waited, from 0 s into the run to its end" in stalled.message
    assert stalled.evidence["seen"] == "pool_waiting", stalled.message
    assert "40/40 threads busy" in stalled.message
    assert "waiting    100 still waiting for an answer at the end, the oldest for" in said
    assert "result     no request succeeded: none was answered; 100 requests were" in said
    assert "loadtui run: no request succeeded: none was answered" in said
    pool = verdict(doc, "threadpool_saturated")
    assert pool is not None and "Little's law" not in pool.message
    assert "Answers stay fast" not in pool.message
    # the stack sampler saw what the threads wait on: the database pool is named, with its size
    limit = "the database pool (2 + 0 overflow), not the thread pool, is the limit"
    assert limit in pool.message and limit in stalled.message, stalled.message
    top = pool.evidence["holders"][0]  # type: ignore[index]
    assert top["waiting_for"] == "database connection" and top["db_pool"] == "2 + 0 overflow"


def test_a_pool_deadlock_after_answers_is_named_and_can_fail_the_gate(tmp_path):
    # users arrive at 20/s: answered at first, until more wait than the pool has threads
    doc, answered, said = load(
        tmp_path, "/items", "--users", "100", "--spawn-rate", "20", "--duration", "10",
        "--fail-on", "server_stalled", code=exits.BREACHED,
    )  # fmt: skip
    assert doc.summary.errors == 0 and answered_as_counted(doc, answered["items"])
    silent = [e for e in doc.timeline if e.requests == 0 and e.in_flight > 0]
    assert len(silent) >= 4 and doc.timeline[-1].requests == 0  # silent to the end
    stalled = verdict(doc, "server_stalled")
    assert stalled is not None
    assert stalled.evidence["longest_s"] >= 4 and stalled.evidence["waiting_max"] > 40
    assert stalled.evidence["stalls"][-1]["ongoing"] is True
    assert "matched --fail-on server_stalled: No answer for" in said


def test_a_pool_used_in_one_step_answers_and_is_not_stalled(tmp_path):
    doc, answered, _ = load(
        tmp_path, "/listed", "--users", "100", "--spawn-rate", "1000", "--duration", "4",
        code=exits.OK,
    )  # fmt: skip
    assert doc.summary.errors == 0 and doc.summary.requests > 100
    assert answered_as_counted(doc, answered["listed"])
    assert verdict(doc, "server_stalled") is None


def test_a_route_that_is_simply_slow_is_not_stalled(tmp_path):
    # two users, 3 s an answer: three seconds at a time without one, every time
    doc, answered, _ = load(
        tmp_path, "/slow", "--users", "2", "--spawn-rate", "10", "--duration", "8",
        code=exits.OK,
    )  # fmt: skip
    assert doc.summary.errors == 0 and doc.summary.requests >= 2
    assert answered_as_counted(doc, answered["slow"])
    assert any(e.requests == 0 and e.in_flight > 0 for e in doc.timeline)
    assert verdict(doc, "server_stalled") is None
