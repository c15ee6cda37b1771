"""loadtui.fleet.ray_engines and loadtui.fleet.ray_relay: engines as Ray actors (the optional
extra ``loadtui[ray]``) on a Ray cluster on this machine's loopback, against a real server that
counts what it receives (tests/apps.py): the one schedule shared out, every request counted
once, an actor killed mid-run lost while the other goes on, ``--ray auto`` joining the cluster
RAY_ADDRESS names, and an address nobody answers refused at once.

Skipped without Ray; ``make test-ray`` installs it and runs them (CI does)."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import psutil
import pytest

from loadtui.engine import hdr
from loadtui.run import runfile
from tests.apps import assert_one_schedule, free_port, received
from tests.helpers import LOAD, added, start, wait_for

pytest.importorskip("ray")

pytestmark = [pytest.mark.e2e, pytest.mark.ray, LOAD]


@pytest.fixture
def ray_env() -> Iterator[dict[str, str]]:
    """An environment whose Ray keeps its files in a directory of the test's own (short: Ray's
    socket paths must fit in 107 bytes)."""
    where = tempfile.mkdtemp(prefix="lt-ray-", dir="/tmp")
    try:
        yield {**os.environ, "RAY_TMPDIR": where}
    finally:
        shutil.rmtree(where, ignore_errors=True)


def finished(proc: subprocess.Popen[str], timeout: float = 120) -> str:
    _, stderr = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, stderr
    return stderr


def test_two_ray_actors_share_one_open_loop_schedule(ray_env, counter, tmp_path):
    """Request i of the one schedule asks for /hit/i (row i of the data, whichever actor sends
    it), so that the server counts which requests of the schedule it received."""
    out, rows = tmp_path / "run.json", tmp_path / "rows.csv"
    rate, seconds = 50.0, 4.0
    due = int(seconds * rate)  # at 0, 0.02, ..., 3.98 s: those due before the end
    rows.write_text("n\n" + "".join(f"{n}\n" for n in range(2 * due)))  # none comes again
    proc = start(
        "run", "/hit/{n}", "--target", counter, "--data-file", rows, "--engines", "2",
        "--ray", "local", "--rate", str(rate), "--users", "6", "--duration", str(seconds),
        "--json", out, env=ray_env,
    )  # fmt: skip
    finished(proc)
    doc = runfile.load(out)
    engines = doc.generator.engines
    assert len(engines) == 2 and all(e.node and e.pid for e in engines)
    assert all(e.clock_offset_s == 0.0 for e in engines)  # one machine: one clock
    assert all(e.started_after_s == 0.0 for e in engines)  # the instant they agreed on
    assert sum(e.requests for e in engines) == doc.summary.requests
    assert all(entry.engines == 2 for entry in doc.timeline)
    every = [entry.hdr for entry in doc.timeline if entry.hdr]
    assert hdr.recorded(hdr.decode(doc.histogram.data)) == added(*every)
    assert_one_schedule(doc, received(counter)["numbers"], due)


def relays(env: dict[str, str]) -> list[psutil.Process]:
    """The Ray actors of this test's cluster that run an engine."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            relay = "ray::EngineRelay" in " ".join(process.info["cmdline"] or ())
            if relay and process.environ().get("RAY_TMPDIR") == env["RAY_TMPDIR"]:
                found.append(process)
        except psutil.Error:
            continue
    return found


def test_an_actor_killed_mid_run_is_an_engine_lost(ray_env, counter, tmp_path):
    out = tmp_path / "run.json"
    proc = start(
        "run", "/hit", "--target", counter, "--engines", "2", "--ray", "local", "--users", "4",
        "--think-min", "0.02", "--think-max", "0.05", "--duration", "6", "--json", out,
        env=ray_env,
    )  # fmt: skip
    both = wait_for(lambda: len(found := relays(ray_env)) == 2 and found, timeout=60)
    assert both, "two engine actors did not start"
    # the engines start together some time after their actors: the load has begun once the
    # server counts a request
    assert wait_for(lambda: received(counter)["hits"] > 0, timeout=60), "no load arrived"
    time.sleep(2.5)  # into the run's third second: its first two are reported by both
    both[0].send_signal(signal.SIGKILL)
    finished(proc)
    doc = runfile.load(out)
    assert doc.state == "finished" and doc.failure is None
    (lost,) = [e for e in doc.generator.engines if e.lost]
    assert "its Ray actor" in (lost.lost_reason or "") and "died" in (lost.lost_reason or "")
    assert any(v.code == "engine_lost" for v in doc.verdicts)
    assert doc.timeline[0].engines == 2 and doc.timeline[-1].engines == 1
    assert doc.timeline[-1].requests > 0
    assert received(counter)["hits"] >= doc.summary.requests


@pytest.fixture
def head(ray_env: dict[str, str]) -> Iterator[tuple[str, dict[str, str]]]:
    """`ray start --head` on loopback with 2 CPUs and a token of its own; its address and the
    environment a driver joins it with."""
    port = free_port()
    env = {
        **ray_env,
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # the node on loopback
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
    }
    command = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block"]
    command += ["--port", str(port), "--node-ip-address", "127.0.0.1", "--num-cpus", "2"]
    command += ["--include-dashboard", "false", "--disable-usage-stats"]
    proc = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:

        def listening() -> bool:
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", port)) == 0

        assert wait_for(listening, timeout=60, interval=0.2), "the Ray head did not start"
        time.sleep(2.0)  # its raylet registers after the GCS listens
        driver = {k: v for k, v in env.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
        yield f"127.0.0.1:{port}", driver
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the head and every process it started
        proc.wait(10)


def test_ray_auto_joins_the_cluster_ray_address_names(head, counter, tmp_path):
    address, env = head
    out = tmp_path / "run.json"
    proc = start(
        "run", "/hit", "--target", counter, "--ray", "auto", "--engines", "auto", "--users", "4",
        "--think-min", "0.02", "--think-max", "0.05", "--duration", "3", "--json", out,
        env={**env, "RAY_ADDRESS": address},
    )  # fmt: skip
    finished(proc)
    doc = runfile.load(out)
    assert [e.users for e in doc.generator.engines] == [2, 2]  # auto: one a CPU of the cluster
    hits = received(counter)["hits"]
    # a request in flight when the run ended reached the server but was never answered
    assert doc.summary.requests <= hits <= doc.summary.requests + doc.timeline[-1].in_flight


def test_an_address_nobody_answers_is_one_line_and_nothing_starts(ray_env):
    started = time.monotonic()
    proc = start(
        "run", "5", "--ray", "auto", env={**ray_env, "RAY_ADDRESS": f"127.0.0.1:{free_port()}"}
    )
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2
    (line,) = stderr.strip().splitlines()
    assert "no Ray cluster answers at 127.0.0.1:" in line and "refused" in line
    assert time.monotonic() - started < 15
    assert not os.listdir(ray_env["RAY_TMPDIR"])  # no Ray started, no server spawned
