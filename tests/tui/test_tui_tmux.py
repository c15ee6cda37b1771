"""loadtui.app end to end: the real `loadtui` in tmux, with real servers and engines behind its
panes."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest

from loadtui.run import runfile
from tests.apps import free_port, ready
from tests.helpers import LOAD, wait_for

pytestmark = pytest.mark.e2e


class Tmux:
    def __init__(self, command: str, width: int, height: int) -> None:
        if shutil.which("tmux") is None:
            pytest.fail("tmux is not installed: apt-get install tmux (make test installs it)")
        self.name = f"loadtui-{uuid.uuid4().hex[:8]}"
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height),
             command],
            check=True,
        )  # fmt: skip

    def screen(self) -> str:
        result = subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True
        )
        return result.stdout

    def press(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def shell_pid(self) -> int:
        out = subprocess.run(
            ["tmux", "display-message", "-p", "-t", self.name, "#{pane_pid}"],
            capture_output=True,
            text=True,
        )
        return int(out.stdout.strip())

    def kill(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


@LOAD  # 100 users on a pane: load enough to disturb the timing of another load test
def test_real_loadtui_in_tmux(tmp_path):
    exit_file = tmp_path / "exit-code"
    command = (
        f"cd {tmp_path} && {sys.executable} -m loadtui --users 10; echo $? > {exit_file}; sleep 60"
    )
    tmux = Tmux(command, 120, 40)
    try:
        # numbers appear in both panes
        rates = lambda: re.findall(r"req/s\s+(\d+\.\d)", tmux.screen())  # noqa: E731
        assert wait_for(lambda: len(rates()) == 2 and all(float(r) > 0 for r in rates()), 40)
        shell = psutil.Process(tmux.shell_pid())
        children = shell.children(recursive=True)
        assert len([p for p in children if "loadtui.workers" in " ".join(p.cmdline())]) == 2
        assert len([p for p in children if "server" in p.cmdline()]) == 2

        tmux.press("3")  # 100 users on the focused pane, a new run on a fresh server
        assert wait_for(lambda: "100 users · running" in tmux.screen(), 30)
        tmux.press("n")  # the next route: 5 -> 6
        assert wait_for(lambda: re.search(r"6  async def / async inner", tmux.screen()), 30)
        assert wait_for(lambda: "100 users · running" in tmux.screen(), 30)

        tmux.press("e")
        assert wait_for(lambda: len(list(tmp_path.glob("runs/*/*.json"))) >= 3, 15)

        everything = [*shell.children(recursive=True)]
        tmux.press("q")  # the runs still running changed since the export: it asks
        assert wait_for(lambda: "measured what no run file holds yet" in tmux.screen(), 10)
        tmux.press("q")  # q q: leave without saving
        assert wait_for(exit_file.exists, 30), tmux.screen()
        assert exit_file.read_text().strip() == "0"
        assert re.search(r"loadtui: quit without saving \d runs", tmux.screen())
        assert wait_for(lambda: not any(p.is_running() for p in everything), 10)
    finally:
        tmux.kill()


# A sitecustomize for PYTHONPATH: each demo server loadtui spawns waits at its start for the file
# GATE (a minute at most), so that its run stays starting as long as a test needs.
HOLD_SERVERS = """
import os, time
command = open("/proc/self/cmdline", "rb").read().split(b"\\0")
if b"server" in command and b"--announce-json" in command:
    deadline = time.monotonic() + 60
    while not os.path.exists({gate!r}) and time.monotonic() < deadline:
        time.sleep(0.05)
"""


def test_the_first_frame_does_not_wait_for_the_runs(tmp_path):
    """With both demo servers held at their start, the screen is drawn and answers keys; once
    they are let go, both panes run."""
    gate, site, exit_file = tmp_path / "gate", tmp_path / "site", tmp_path / "exit-code"
    site.mkdir()
    (site / "sitecustomize.py").write_text(HOLD_SERVERS.format(gate=str(gate)))
    command = (
        f"cd {tmp_path} && PYTHONPATH={site} {sys.executable} -m loadtui --users 5; "
        f"echo $? > {exit_file}; sleep 60"
    )
    tmux = Tmux(command, 80, 24)
    try:
        assert wait_for(lambda: "q quit" in tmux.screen(), 30), tmux.screen()
        screen = tmux.screen()
        assert screen.count("5 users · starting") == 2 and "starting …" in screen, screen
        tmux.press("?")
        assert wait_for(lambda: "loadtui keys" in tmux.screen(), 10), tmux.screen()
        tmux.press("Escape")
        assert wait_for(lambda: "loadtui keys" not in tmux.screen(), 10), tmux.screen()
        assert tmux.screen().count("5 users · starting") == 2  # still held
        gate.touch()
        assert wait_for(lambda: tmux.screen().count("5 users · running") == 2, 40), tmux.screen()
        counts = lambda: re.findall(r"(\d+) requests", tmux.screen())  # noqa: E731
        assert wait_for(lambda: len(counts()) == 2 and "0" not in counts(), 20), tmux.screen()
        tmux.press("q")  # both runs measured something no run file holds: it asks
        assert wait_for(lambda: "what no run file" in tmux.screen(), 10), tmux.screen()
        tmux.press("q")
        assert wait_for(exit_file.exists, 30), tmux.screen()
        assert exit_file.read_text().strip() == "0"
    finally:
        gate.touch()
        tmux.kill()


def _start_tui(
    tmp_path, size: tuple[int, int] = (100, 30)
) -> tuple[Tmux, Path, psutil.Process, list[psutil.Process]]:
    exit_file, tty_file = tmp_path / "exit-code", tmp_path / "tty-after"
    command = (
        f"cd {tmp_path} && {sys.executable} -m loadtui --users 5; "
        f"echo $? > {exit_file}; stty -a > {tty_file}; sleep 60"
    )
    tmux = Tmux(command, *size)
    assert wait_for(lambda: tmux.screen().count("5 users · running") == 2, 40), tmux.screen()
    counts = lambda: re.findall(r"(\d+) requests", tmux.screen())  # noqa: E731
    assert wait_for(lambda: len(counts()) == 2 and "0" not in counts(), 20), tmux.screen()
    shell = psutil.Process(tmux.shell_pid())
    ui = next(p for p in shell.children() if "loadtui" in " ".join(p.cmdline()))
    children = ui.children(recursive=True)
    assert len(children) >= 4  # two servers, two engines
    return tmux, exit_file, ui, children


def _gone(processes: list[psutil.Process]) -> bool:
    return not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in processes)


def test_sigterm_writes_what_was_measured_and_restores_the_terminal(tmp_path):
    tmux, exit_file, ui, children = _start_tui(tmp_path)
    try:
        time.sleep(3)
        ui.send_signal(signal.SIGTERM)
        assert wait_for(exit_file.exists, 30), tmux.screen()
        assert exit_file.read_text().strip() == "130"
        files = sorted(tmp_path.glob("runs/*/*.json"))
        assert len(files) == 2
        assert f"loadtui: wrote 2 run files to runs/{files[0].parent.name}/" in tmux.screen()
        for path in files:
            doc = runfile.load(path)
            assert doc.state == "interrupted" and doc.summary.requests > 0
        assert wait_for(lambda: _gone(children), 10)
        assert wait_for((tmp_path / "tty-after").exists, 5)
        modes = (tmp_path / "tty-after").read_text().split()
        assert "icanon" in modes and "echo" in modes  # cooked mode again
        assert "┃" not in tmux.screen()  # the alternate screen is gone
    finally:
        tmux.kill()


def _bottom_line(tmux: Tmux) -> str:
    return tmux.screen().rstrip("\n").splitlines()[-1]


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_ctrl_c_writes_what_was_measured_exits_130_and_says_where(tmp_path, size):
    tmux, exit_file, _ui, children = _start_tui(tmp_path, size)
    try:
        assert _bottom_line(tmux).rstrip().endswith("? help  q quit"), tmux.screen()
        time.sleep(2)
        tmux.press("C-c")
        assert wait_for(exit_file.exists, 30), tmux.screen()
        assert exit_file.read_text().strip() == "130"
        files = sorted(tmp_path.glob("runs/*/*.json"))
        assert len(files) == 2
        assert all(runfile.load(f).state == "interrupted" for f in files)
        where = f"loadtui: wrote 2 run files to runs/{files[0].parent.name}/"
        assert where in tmux.screen()
        assert wait_for(lambda: _gone(children), 10)
    finally:
        tmux.kill()


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_q_asks_then_q_leaves_without_saving(tmp_path, size):
    tmux, exit_file, _ui, children = _start_tui(tmp_path, size)
    try:
        tmux.press("q")
        assert wait_for(lambda: "2 runs measured what no run file" in tmux.screen(), 10), (
            tmux.screen()
        )
        tmux.press("Escape")  # stay
        assert wait_for(lambda: "what no run file" not in tmux.screen(), 10), tmux.screen()
        assert not exit_file.exists()
        tmux.press("q")
        assert wait_for(lambda: "what no run file" in tmux.screen(), 10)
        tmux.press("q")
        assert wait_for(exit_file.exists, 30), tmux.screen()
        assert exit_file.read_text().strip() == "0"
        assert "loadtui: quit without saving 2 runs" in tmux.screen()
        assert not (tmp_path / "runs").exists()
        assert wait_for(lambda: _gone(children), 10)
    finally:
        tmux.kill()


def test_sigkill_leaves_no_server_or_engine_behind(tmp_path):
    tmux, _exit_file, ui, children = _start_tui(tmp_path)
    try:
        ui.send_signal(signal.SIGKILL)
        assert wait_for(lambda: _gone(children), 8)
    finally:
        tmux.kill()


def test_a_dropped_terminal_saves_what_was_measured_and_exits(tmp_path):
    tmux, _exit_file, ui, children = _start_tui(tmp_path)
    time.sleep(2)
    tmux.kill()  # the terminal goes away, as when an SSH connection drops: SIGHUP
    assert wait_for(lambda: _gone([ui]), 25)
    assert wait_for(lambda: _gone(children), 5)
    files = sorted(tmp_path.glob("runs/*/*.json"))
    assert len(files) == 2 and all(runfile.load(f).state == "interrupted" for f in files)


def test_routes_that_look_like_markup_are_shown_as_text_by_the_real_tui(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "loadtui", "server", "--port", str(port), "--metrics-port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    exit_file = tmp_path / "exit-code"
    routes = ["/a[/b]", "/[bold red]RED[/]", "/q?a[]=1"]
    arguments = " ".join(f"--route '{route}'" for route in routes)
    command = (
        f"cd {tmp_path} && {sys.executable} -m loadtui --users 2 "
        f"--target http://127.0.0.1:{port} {arguments}; echo $? > {exit_file}; sleep 60"
    )
    try:
        assert wait_for(lambda: ready(f"http://127.0.0.1:{port}", "/ping"), 30)
        tmux = Tmux(command, 100, 36)
        try:
            # each pane has measured a second (before that, q has nothing to ask about)
            measuring = lambda: len(re.findall(r"2 users · running 0:0[1-9]", tmux.screen()))  # noqa: E731
            assert wait_for(lambda: measuring() == 3, 40), tmux.screen()
            screen = tmux.screen()
            assert all(f"  {route}  " in screen for route in routes), screen
            tmux.press("q")
            assert wait_for(lambda: "what no run file holds yet" in tmux.screen(), 10), (
                tmux.screen()
            )
            tmux.press("q")
            assert wait_for(exit_file.exists, 30), tmux.screen()
            assert exit_file.read_text().strip() == "0"
            assert "Traceback" not in tmux.screen() and "MarkupError" not in tmux.screen()
        finally:
            tmux.kill()
    finally:
        server.terminate()
        server.wait(10)
