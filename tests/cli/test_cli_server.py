"""loadtui.cli.main's `server` and `routes` commands, and loadtui.targets.spawn, as a user runs
them."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from loadtui.server.variants import VARIANTS
from loadtui.targets.spawn import SpawnedServer
from tests.helpers import get, loadtui, wait_for

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "args",
    [
        ["server", "--port", "abc"],
        ["server", "--port", "70000"],
        ["server", "--threads", "0"],
        ["server", "--threads", "-3"],
        ["server", "--metrics-port", "x"],
        ["server", "--bogus"],
        ["server", "--port", "18123", "--metrics-port", "18123"],
        ["server", "--port", "18123", "--metrics-port", "18123", "--metrics-host", "0.0.0.0"],
        ["nonsense-command"],
    ],
)
def test_bad_input_gets_one_clear_line_and_exit_2(args):
    result = loadtui(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_a_port_in_use_is_one_clear_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = loadtui("server", "--port", str(port), "--metrics-port", "0")
    assert result.returncode == 2
    assert result.stderr.strip() == "loadtui server: error: cannot listen: Address already in use"


def test_routes_lists_every_variant_with_its_lesson():
    result = loadtui("routes")
    assert result.returncode == 0
    for variant in VARIANTS:
        assert variant.path in result.stdout
        assert variant.lesson[:40] in result.stdout.replace("\n       ", " ")
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_server_command_serves_on_loopback_and_stops_on_sigterm():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadtui", "server", "--port", str(port), "--metrics-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in line and "metrics sidecar" in line
        assert get(f"http://127.0.0.1:{port}/ping").status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal


def test_spawned_server_dies_with_its_parent_even_on_sigkill():
    script = textwrap.dedent(
        """
        import time
        from loadtui.targets.spawn import SpawnedServer
        server = SpawnedServer.start()
        print(server.pid, server.url, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pid_text, url = parent.stdout.readline().split()
    server_pid = int(pid_text)
    assert get(url + "/ping").status_code == 200
    parent.send_signal(signal.SIGKILL)
    parent.wait(5)
    assert wait_for(lambda: not psutil.pid_exists(server_pid), timeout=6)


def test_spawned_server_stops_within_the_grace_even_with_a_blocked_loop():
    server = SpawnedServer.start()
    get(server.url + "/async-route-async-inner-async-bg-sync-task")
    time.sleep(0.3)
    started = time.monotonic()
    server.stop(grace=1.0)
    assert time.monotonic() - started < 4
    assert not server.alive()
    assert not psutil.pid_exists(server.pid) or psutil.Process(server.pid).status() == "zombie"


def test_a_sidecar_beyond_loopback_is_one_loud_line_on_stderr():
    command = [sys.executable, "-m", "loadtui", "server", "--port", "0", "--metrics-port", "0"]
    proc = subprocess.Popen(
        [*command, "--metrics-host", "0.0.0.0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = proc.stdout.readline()
        assert "metrics sidecar: http://0.0.0.0:" in ready
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=10)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("loadtui: WARNING: the metrics sidecar listens on 0.0.0.0:")
    assert "beyond loopback" in lines[0]
