"""loadtui.probe and loadtui.probing.discovery against real processes: it finds a blocked app's
sidecar without the loop, watches every worker, agrees with itself, and cannot be turned against
anyone (tests/hostile.py)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from loadtui.probe import WAIT_GAP_S, Probe
from loadtui.run import runfile
from loadtui.run.rundoc import RunDocument
from loadtui.targets.target import parse_target
from tests.apps import free_port, serve_app
from tests.helpers import LOAD, get, wait_for, wait_load

# The tests against a real app are in the serial load group (they judge stalls and timings);
# those against a hostile sidecar (tests/hostile.py) check what is kept and bounded, and run
# beside the others.
pytestmark = [pytest.mark.e2e]


def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    return tmp_path / "app"


@contextlib.contextmanager
def hostile(mode: str, arg: str = "") -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.hostile", str(port), mode, arg],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).parents[2],
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait(5)


def loadtui_run(
    tmp_path: Path,
    target: str,
    route: str = "/x",
    *extra: str,
    seconds: int = 3,
    during: Callable[[subprocess.Popen[str]], None] | None = None,
) -> tuple[subprocess.CompletedProcess[str], RunDocument | None, int]:
    """`loadtui run` against ``target``: its result, its run file and its peak RSS (bytes).
    ``during(process)`` runs on a thread of its own meanwhile."""
    out = tmp_path / "run.json"
    command = [sys.executable, "-m", "loadtui", "run", route, "--target", target]
    command += ["--users", "5", "--duration", str(seconds), "--json", str(out), *extra]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    helper = threading.Thread(target=during, args=(proc,)) if during is not None else None
    if helper is not None:
        helper.start()
    peak = 0
    process = psutil.Process(proc.pid)
    while proc.poll() is None:
        with contextlib.suppress(psutil.Error):
            peak = max(peak, process.memory_info().rss)
        time.sleep(0.1)
    stdout, stderr = proc.communicate()
    if helper is not None:
        helper.join()
    result = subprocess.CompletedProcess(command, proc.returncode, stdout, stderr)
    return result, runfile.load(out) if out.exists() else None, peak


class ConnectionCounter:
    """Counts the connections a loopback address receives."""

    def __init__(self, host: str) -> None:
        self.sock = socket.create_server((host, 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()


# ---- a probe that cannot be turned against anyone --------------------------------------------
def test_a_port_that_is_not_a_number_sends_nothing_elsewhere(tmp_path):
    elsewhere = ConnectionCounter("127.0.0.2")
    with hostile("port-trick", str(elsewhere.port)) as url:
        result, doc, _ = loadtui_run(tmp_path, url)
    assert result.returncode == 0, result.stderr
    assert doc is not None and doc.summary.requests > 0
    assert elsewhere.connections == 0


def test_a_sidecar_named_beyond_loopback_is_never_asked(tmp_path):
    with hostile("remote-sidecar") as url:
        result, doc, _ = loadtui_run(tmp_path, url)
    assert result.returncode == 0, result.stderr
    assert doc is not None and "metrics sidecar" in doc.server.signals.missing


@pytest.mark.parametrize("mode", ["endless-metrics", "endless-heartbeat"])
def test_endless_answers_keep_loadtui_small(mode, tmp_path):
    with hostile(mode) as url:
        result, doc, peak = loadtui_run(tmp_path, url, seconds=4)
    assert result.returncode == 0, result.stderr
    assert doc is not None and len(doc.timeline) == 4
    assert peak < 250_000_000, f"loadtui grew to {peak / 1e6:.0f} MB"


def test_non_finite_gauges_are_dropped_and_the_run_is_kept(tmp_path):
    with hostile("nan") as url:
        result, doc, _ = loadtui_run(tmp_path, url)
    assert result.returncode == 0, result.stderr
    assert doc is not None and doc.summary.requests > 0
    seconds = [entry.server for entry in doc.timeline if entry.server.samples]
    assert seconds and all(s.threadpool_busy is None for s in seconds)
    assert all(s.threadpool_capacity is None for s in seconds)
    assert any(s.requests_in_flight == 3 for s in seconds)  # the finite one is kept


@LOAD
def test_a_failing_sampler_says_so(demo_server):
    failures: list[str] = []

    def broken(_samples: object) -> None:
        raise RuntimeError("the model refused the look")

    target = parse_target(demo_server.url, "/ping")
    probe = Probe(target, broken, print, lambda *_: None, failures.append)
    probe.start()
    try:
        assert wait_for(lambda: failures, timeout=10)
    finally:
        probe.stop()
    assert failures == ["RuntimeError: the model refused the look"]


# ---- finding the sidecar without the loop, every worker --------------------------------------
BLOCKING_APP = """
    import os, time
    from fastapi import FastAPI
    from loadtui import instrument

    app = FastAPI()

    def compress_report():
        time.sleep(0.5)

    @app.get("/slow")
    async def slow():
        compress_report()  # blocks the worker's event loop
        return {"pid": os.getpid()}

    instrument(app, metrics_port=int(os.environ.get("TEST_METRICS_PORT", "0")))
"""


@LOAD
def test_a_blocked_app_is_diagnosed_from_its_sidecar_found_by_itself(tmp_path):
    with serve_app(BLOCKING_APP, app_dir(tmp_path), ready_path="/heartbeat") as app:
        result, doc, _ = loadtui_run(tmp_path, app.url, "/slow", "--users", "20", seconds=5)
        pid = app.processes()[0].pid
    assert result.returncode == 0, result.stderr
    assert doc is not None
    assert doc.server.signals.missing == []
    blocked = next(v for v in doc.verdicts if v.code == "event_loop_blocked")
    assert blocked.evidence["culprits"][0]["culprit"] == "compress_report"
    assert [w.pid for w in doc.server.workers] == [pid]
    # named where it is and what it was in, in the run file and in the summary
    assert all(s.leaf == "time.sleep" for s in doc.server.stalls)
    assert all(s.location.endswith("app_under_test.py:9") for s in doc.server.stalls)
    summary = " ".join(result.stdout.split())
    assert re.search(r"Culprit: compress_report \(\S*app_under_test\.py:9\) → time\.sleep", summary)


# A sidecar as earlier loadtui releases served it: no long poll (/stalls/wait is a 404).
EARLIER_SIDECAR_APP = (
    BLOCKING_APP
    + """
    from loadtui.server import instrumentation, sidecar

    class EarlierSidecar(sidecar.Sidecar):
        def __init__(self, sock, routes, feeds=None):
            super().__init__(sock, routes)

    instrumentation.Sidecar = EarlierSidecar
"""
)


@LOAD
def test_a_sidecar_without_the_long_poll_is_read_as_before(tmp_path):
    with serve_app(EARLIER_SIDECAR_APP, app_dir(tmp_path)) as app:
        port = get(app.url + "/heartbeat").json()["sidecar_port"]
        assert get(f"http://127.0.0.1:{port}/stalls/wait").status_code == 404
        result, doc, _ = loadtui_run(tmp_path, app.url, "/slow", "--users", "20", seconds=5)
    assert result.returncode == 0, result.stderr
    assert doc is not None and doc.server.signals.missing == []
    assert doc.server.stalls and all(s.culprit == "compress_report" for s in doc.server.stalls)
    assert all(s.leaf == "time.sleep" for s in doc.server.stalls)


def test_a_long_poll_that_lies_is_checked_and_kept_small(tmp_path):
    with hostile("bad-news") as url:
        result, doc, peak = loadtui_run(tmp_path, url, seconds=5)
    assert result.returncode == 0, result.stderr
    assert doc is not None and doc.summary.requests > 0
    assert peak < 250_000_000, f"loadtui grew to {peak / 1e6:.0f} MB"
    # of 200 stalls in an answer, the last 64 were looked at, and of those the few with a finite
    # start and a length >= 0 kept (those that fell within the run), each text cut to its bound
    assert 0 < len(doc.server.stalls) <= 64
    for stall in doc.server.stalls:
        assert len(stall.culprit) <= 300 and len(stall.location) <= 300
        assert len(stall.leaf) <= 300
    assert {len(s.location) for s in doc.server.stalls} == {300}  # 1,300 offered
    assert {len(s.leaf) for s in doc.server.stalls} == {0, 300}  # a list, 7, None: no leaf
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout


def test_a_long_poll_answered_at_once_is_not_asked_in_a_loop(tmp_path):
    with hostile("quick-news") as url:
        started = time.monotonic()
        result, _, _ = loadtui_run(tmp_path, url, seconds=4)
        elapsed = time.monotonic() - started
        asked = get(url + "/asked").json()["long_polls"]
    assert result.returncode == 0, result.stderr
    assert 0 < asked <= elapsed / WAIT_GAP_S + 10, (asked, elapsed)


@pytest.mark.parametrize("server", ["uvicorn", "gunicorn"])
@LOAD
def test_every_worker_is_watched(server, tmp_path):
    env = {"TEST_METRICS_PORT": str(free_port())}  # a fixed port, as the README's snippet
    with serve_app(
        BLOCKING_APP, app_dir(tmp_path), server=server, workers=2, env=env, ready_path="/heartbeat"
    ) as app:
        wait_for(lambda: len(app.processes()) >= 3, timeout=20)
        result, doc, _ = loadtui_run(tmp_path, app.url, "/slow", "--users", "20", seconds=6)
        workers = {p.pid for p in app.processes()[1:]} & {
            p.pid for p in app.processes() if app.port in app.listening_ports(p)
        }
    assert result.returncode == 0, result.stderr
    assert doc is not None
    assert {w.pid for w in doc.server.workers} == workers and len(workers) == 2
    assert all(w.sidecar and w.stalls > 0 for w in doc.server.workers)
    assert {s.pid for s in doc.server.stalls} == workers
    blocked = next(v for v in doc.verdicts if v.code == "event_loop_blocked")
    assert set(blocked.evidence["culprits"][0]["pids"]) == workers
    assert "in workers" in blocked.message
    # the pool is summed over the workers
    assert doc.server.threadpool_capacity == 80


@LOAD
def test_metrics_names_the_sidecar(tmp_path):
    sidecar = free_port()
    env = {"TEST_METRICS_PORT": str(sidecar)}
    with serve_app(BLOCKING_APP, app_dir(tmp_path), env=env, ready_path="/heartbeat") as app:
        metrics = f"http://127.0.0.1:{sidecar}"
        result, doc, _ = loadtui_run(tmp_path, app.url, "/slow", "--metrics", metrics)
        pid = app.processes()[0].pid
    assert result.returncode == 0, result.stderr
    assert doc is not None and doc.server.signals.missing == []
    assert [w.pid for w in doc.server.workers] == [pid]


# ---- figures that agree ----------------------------------------------------------------------
@LOAD
def test_a_stopped_server_is_unresponsive_not_blocked(tmp_path, demo_server):
    def freeze(run: subprocess.Popen[str]) -> None:
        wait_load(run)  # the load has begun (seconds after the command, on a busy machine)
        time.sleep(1.0)
        os.kill(demo_server.pid, signal.SIGSTOP)
        time.sleep(3.0)
        os.kill(demo_server.pid, signal.SIGCONT)

    result, doc, _ = loadtui_run(tmp_path, demo_server.url, "/ping", seconds=6, during=freeze)
    assert result.returncode == 0, result.stderr
    assert doc is not None
    codes = {v.code: v for v in doc.verdicts}
    assert "server_unresponsive" in codes and "event_loop_blocked" not in codes
    assert 2.0 <= doc.server.unresponsive_s <= 4.5


@LOAD
def test_an_ongoing_stall_has_one_length_everywhere(tmp_path, demo_server):
    """Route 6 blocks the loop for 10 s; the run ends inside that stall."""
    result, doc, _ = loadtui_run(tmp_path, demo_server.url, "6", "--users", "2", seconds=5)
    assert result.returncode == 0, result.stderr
    assert doc is not None
    blocked = next(v for v in doc.verdicts if v.code == "event_loop_blocked")
    longest = blocked.evidence["longest_s"]
    lag = max(e.server.loop_lag_max_s or 0.0 for e in doc.timeline)
    assert longest >= 2.0
    assert abs(lag - longest) < 1.0, (lag, longest)  # the lag shown is the stall's age


def test_a_sidecars_holders_are_bounded_checked_and_shown_as_text(tmp_path):
    with hostile("holders") as url:
        result, doc, _ = loadtui_run(tmp_path, url, seconds=5)
    assert result.returncode == 0, result.stderr
    assert doc is not None and doc.server.threads, "no holder second was kept"
    assert len(doc.server.threads) <= 7  # the run's seconds only, not the twelve offered
    for second in doc.server.threads:
        assert second.loop_busy is None  # 1e9, -1 and NaN are no shares
        for holder in second.loop + second.pool + second.other:
            assert 0 <= holder.threads <= 100_000 and 0 <= holder.on_cpu <= 1
            assert 0 <= holder.python <= 1
            assert len(holder.function) <= 200 and len(holder.location) <= 300
    found = {v.code: v for v in doc.verdicts}["threadpool_saturated"]
    assert "hash[/]password" in found.message
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "hash[/]password\\x1b[31m" in result.stdout.replace("\n", "").replace(" ", "")
