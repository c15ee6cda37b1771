"""The TUI under load: its own CPU with two panes at 100 users each, and key-to-screen latency.

Runs the real `loadtui --users 100` in tmux (routes 5 and 4, the default panes), lets the load
settle, measures the UI process's CPU (not its children: engines and servers are separate
processes), then presses `?` / `?` (help on, help off) and times until tmux shows the change.
tmux's capture adds a few ms, so the figures are upper bounds.

    .venv/bin/python -m benchmarks.tui_cost [--seconds 30] [--presses 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import psutil

PACE_S = 0.3  # keys ~3 a second; a burst queues behind the previous key's redraw


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def wait_screen(session: str, predicate, timeout: float = 5.0) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if predicate(tmux("capture-pane", "-p", "-t", session)):
            return time.perf_counter() - started
        time.sleep(0.005)
    raise TimeoutError("the screen did not change")


def press(session: str, key: str, shown) -> float:
    """One key at a person's pace (a pause first), then the time until the screen shows it."""
    time.sleep(PACE_S)
    tmux("send-keys", "-t", session, key)
    return wait_screen(session, shown)


def focused_pane(screen: str) -> int | None:
    top = screen.splitlines()[0] if screen else ""
    heavy = top.find("┏")
    return None if heavy < 0 else (0 if heavy < len(top) // 2 else 1)


def report(what: str, delays: list[float]) -> None:
    ms = sorted(d * 1000 for d in delays)
    print(
        f"key to screen, {what}, {len(ms)} presses: p50 {statistics.median(ms):.0f} ms, "
        f"p90 {ms[int(len(ms) * 0.9) - 1]:.0f} ms, max {ms[-1]:.0f} ms (target < 150 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--presses", type=int, default=20)
    args = parser.parse_args()
    session = f"bench-{uuid.uuid4().hex[:6]}"
    workdir = tempfile.mkdtemp()
    command = f"cd {workdir} && {sys.executable} -m loadtui --users 100"
    tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "48", command)
    try:
        wait_screen(session, lambda s: s.count("100 users · running") == 2, timeout=60)
        time.sleep(10)  # users ramp up at 20/s
        # tmux runs the command through `sh -c`, which execs it: the pane's process is the UI
        pane = psutil.Process(int(tmux("display-message", "-p", "-t", session, "#{pane_pid}")))
        ui = next(p for p in [pane, *pane.children()] if "--users" in p.cmdline())
        before = ui.cpu_times()
        time.sleep(args.seconds)
        after = ui.cpu_times()
        cpu = (after.user + after.system - before.user - before.system) / args.seconds * 100
        focus, help_screen = [], []
        for _ in range(args.presses):
            for pane in (1, 0):  # tab moves the heavy (focused) border to the other pane
                focus.append(press(session, "Tab", lambda s, p=pane: focused_pane(s) == p))
            help_screen.append(press(session, "?", lambda s: "loadtui keys" in s))
            help_screen.append(press(session, "?", lambda s: "loadtui keys" not in s))
        print(f"UI process CPU: {cpu:.1f}% of one core (two panes at 100 users each)")
        report("tab (focus moves)", focus)
        report("? (help screen on/off)", help_screen)
    finally:
        tmux("send-keys", "-t", session, "q")
        time.sleep(5)
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


if __name__ == "__main__":
    main()
