"""loadtui.cli.headless (run, matrix), loadtui.targets.spawn and loadtui.run.atomic under faults
around a run: dying servers, signals, a killed loadtui, full disks, bad starts.

Every case is bounded in time and stays on loopback. What was measured is never lost, nothing
is left running, files are whole or absent.
"""

from __future__ import annotations

import os
import re
import signal
import time

import psutil
import pytest

from loadtui.exits import FAILED as EXIT_FAILED
from loadtui.run import runfile
from loadtui.run.atomic import write_text_atomic
from loadtui.targets.spawn import SpawnedServer, SpawnError
from tests.helpers import fill, loadtui, start, wait_children, wait_for, wait_load

pytestmark = pytest.mark.e2e


def named(processes: list[psutil.Process], marker: str) -> psutil.Process:
    return next(p for p in processes if marker in " ".join(p.cmdline()))


def gone(processes: list[psutil.Process]) -> bool:
    def dead(process: psutil.Process) -> bool:
        try:
            return process.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    return all(dead(p) for p in processes)


def test_server_sigkilled_mid_run_is_counted_and_reported(tmp_path):
    out = tmp_path / "run.json"
    proc = start("run", "5", "--users", "10", "--duration", "8", "--json", str(out))
    children = wait_children(proc)
    wait_load(proc)
    time.sleep(1)  # into the run: requests answered, then refused
    named(children, " server ").send_signal(signal.SIGKILL)
    stdout, _ = proc.communicate(timeout=40)
    assert proc.returncode == 1  # documented: a run that lost its server exits 1
    doc = runfile.load(out)
    assert doc.summary.duration_s >= 7.5  # the run went on to its end
    assert doc.summary.errors_by_kind.get("refused", 0) > 10
    assert any(v.code == "server_unreachable" for v in doc.verdicts)
    assert "server_unreachable" in stdout


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signals_during_run_keep_what_was_measured(tmp_path, signum):
    out = tmp_path / "run.json"
    proc = start("run", "5", "--users", "10", "--duration", "60", "--json", str(out))
    children = wait_children(proc)
    wait_load(proc)
    time.sleep(1)  # requests of 0.2 s answered
    proc.send_signal(signum)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    doc = runfile.load(out)
    assert doc.interrupted is True and doc.summary.requests > 0
    assert wait_for(lambda: gone(children), timeout=5)


def test_sigterm_during_matrix_writes_the_run_and_stops(tmp_path):
    proc = start(
        "matrix", "--routes", "5,4", "--users", "5", "--duration", "20", "--out", str(tmp_path)
    )
    children = wait_children(proc)
    wait_load(proc)
    time.sleep(1)  # into the first run
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130
    files = list(tmp_path.glob("*/*.json"))
    assert len(files) == 1 and runfile.load(files[0]).state == "interrupted"
    assert stdout.splitlines()[0].split()[:2] == ["route", "load"]
    assert wait_for(lambda: gone(children), timeout=5)


def test_children_exit_by_themselves_when_loadtui_is_sigkilled():
    proc = start("run", "5", "--users", "10", "--duration", "60")
    children = wait_children(proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    assert wait_for(lambda: gone(children), timeout=6)


def test_a_full_disk_is_found_before_the_run(tiny_disk):
    fill(tiny_disk)
    result = loadtui("run", "5", "--duration", "2", "--json", str(tiny_disk / "run.json"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"loadtui run: error: cannot write the run file {tiny_disk / 'run.json'}: "
        "No space left on device"
    ]


def test_a_write_that_fails_leaves_no_half_file(tiny_disk):
    fill(tiny_disk)
    with pytest.raises(OSError):
        write_text_atomic(tiny_disk / "run.json", "x" * 400_000)
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["ballast"]  # no temp file, no run file


def test_an_existing_file_survives_a_failed_rewrite(tiny_disk):
    target = tiny_disk / "run.json"
    write_text_atomic(target, '{"n": 1}')
    fill(tiny_disk)
    with pytest.raises(OSError):
        write_text_atomic(target, "x" * 400_000)
    assert target.read_text() == '{"n": 1}'


def test_unwritable_location_is_found_before_the_run(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    target = locked / "sub" / "run.json"
    result = loadtui("run", "5", "--duration", "2", "--json", str(target))
    if os.geteuid() == 0:  # root may write anywhere: use a path under a file instead
        result = loadtui("run", "5", "--duration", "2", "--json", "/proc/version/run.json")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "cannot write the run file" in result.stderr


def test_a_server_that_fails_to_start_says_why():
    started = time.monotonic()
    with pytest.raises(SpawnError) as failure:
        SpawnedServer.start(host="203.0.113.7")  # not an address of this machine: bind fails
    assert time.monotonic() - started < 15
    assert "demo server exited during start" in str(failure.value)
    assert "cannot listen" in str(failure.value)


def test_a_route_that_does_not_exist_is_named(demo_server):
    result = loadtui("run", "/no-such-route", "--target", demo_server.url, "--duration", "2")
    assert result.returncode == EXIT_FAILED  # no request succeeded: a failed run
    words = " ".join(result.stdout.split())
    assert "http_404" in words and "Does /no-such-route exist on the target?" in words
    assert re.search(r"result no request succeeded: ([\d,]+) of \1 answered 404", words)


def test_an_engine_that_stops_answering_is_killed_and_the_run_ends(tmp_path):
    out = tmp_path / "run.json"
    proc = start("run", "5", "--users", "5", "--duration", "60", "--json", str(out))
    children = wait_children(proc)
    wait_load(proc)
    time.sleep(2)  # a snapshot of answered requests sent (one a second)
    named(children, "loadtui.workers").send_signal(signal.SIGSTOP)  # frozen: alive, silent
    _, stderr = proc.communicate(timeout=40)
    assert proc.returncode == 1
    assert "the engine sent nothing for 10 s" in stderr
    doc = runfile.load(out)
    assert doc.state == "failed" and "sent nothing" in doc.failure
    assert doc.summary.requests > 0  # what it measured before freezing is kept
    assert wait_for(lambda: gone(children), timeout=5)
