"""The TUI under load: its own CPU with two panes at 100 users each, and key-to-screen latency.

Runs the real `loadtui --users 100` in tmux (routes 5 and 4, the default panes), lets the load
settle, measures the UI process's CPU (not its children: engines and servers are separate
processes), then presses `tab` and `?` / `?` (help on, help off) at a person's pace and times
until tmux shows the change. Two ways to watch the screen:

- `--watch output` (default): a tmux control-mode client reports every write the UI makes to its
  terminal; after each, one capture tells whether the screen shows the change yet, and the
  press is timed to the write that made it so. Nothing runs between writes.
- `--watch poll`: a capture every 5 ms, as the first figures were measured. Each capture starts
  a tmux client process: on 2 cores the polling itself competes with the UI for CPU, so these
  are upper bounds.

    .venv/bin/python -m benchmarks.tui_cost [--seconds 30] [--presses 50] [--watch poll]
    PYTHONPATH=/tmp/old .venv/bin/python -m benchmarks.tui_cost   # another loadtui, in /tmp/old

`--long-run` instead measures what a run's age costs the UI: the app in this process
(headless), two panes whose run models already hold 10 s, 2 minutes or 60 minutes of seconds
and samples, fed live (one second and four server samples a second, as a real run), for
--seconds each.

    .venv/bin/python -m benchmarks.tui_cost --long-run [--seconds 20]

`--first-frame` instead measures how long the real `loadtui` (no options: two panes at 40 users,
each on a fresh demo server) takes to show its first frame in tmux at 80x24: from the key that
starts it (the shell waits for it, so that the control-mode client watching the writes is
attached first) to the write after which the key bar's `q quit` is on screen, and on to both
panes running. --repeat times idle, then as many with two busy-loop processes keeping both cores
busy; then SIGTERM (the runs are written to a temporary directory) and a pause for its children
to end.

    .venv/bin/python -m benchmarks.tui_cost --first-frame [--repeat 10]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
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


class Writes:
    """A tmux control-mode client: the time of each write the pane's program makes."""

    def __init__(self, session: str) -> None:
        self.session = session
        self.client = subprocess.Popen(
            ["tmux", "-C", "attach", "-t", session],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        self.times: queue.Queue[float] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.client.stdout is not None
        for line in self.client.stdout:
            if line.startswith(b"%output"):
                self.times.put(time.perf_counter())

    def forget(self) -> None:
        while not self.times.empty():
            self.times.get_nowait()

    def wait(self, predicate, started: float, timeout: float = 5.0) -> float:
        """Seconds from ``started`` to the write after which the screen satisfies
        ``predicate`` (the newest write seen before the capture that showed it)."""
        while True:
            last = self.times.get(timeout=timeout)
            while not self.times.empty():
                last = self.times.get_nowait()
            if predicate(tmux("capture-pane", "-p", "-t", self.session)):
                return last - started

    def close(self) -> None:
        self.client.terminate()


def press(session: str, key: str, shown, writes: Writes | None) -> float:
    """One key at a person's pace (a pause first), then the time until the screen shows it."""
    time.sleep(PACE_S)
    if writes is None:
        tmux("send-keys", "-t", session, key)
        return wait_screen(session, shown)
    writes.forget()
    started = time.perf_counter()
    tmux("send-keys", "-t", session, key)
    return writes.wait(shown, started)


def focused_pane(screen: str) -> int | None:
    top = screen.splitlines()[0] if screen else ""
    heavy = top.find("┏")
    return None if heavy < 0 else (0 if heavy < len(top) // 2 else 1)


def rank(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of sorted ``values``."""
    return values[max(0, math.ceil(fraction * len(values)) - 1)]


def report(what: str, delays: list[float]) -> None:
    ms = sorted(d * 1000 for d in delays)
    print(
        f"key to screen, {what}, {len(ms)} presses: p50 {statistics.median(ms):.0f} ms, "
        f"p90 {rank(ms, 0.9):.0f} ms, p99 {rank(ms, 0.99):.0f} ms, max {ms[-1]:.0f} ms "
        "(target: p99 < 100 ms)"
    )


class AgedRun:
    """A run whose run model already holds ``age_s`` seconds, then grows live."""

    age_s = 10

    def __init__(self, spec, listener) -> None:
        from tests.synthetic import model

        self.spec, self.error, self._listener = spec, None, listener
        self._stop = threading.Event()
        self._model = model(self.age_s, samples=_samples(0, self.age_s), stalls=[])
        self._model.state = "running"
        self._model.end_reason = None
        self._thread = threading.Thread(target=self._feed, daemon=True)

    @property
    def model(self):
        return self._model

    @property
    def ended(self) -> bool:
        return self._stop.is_set()

    def start(self) -> None:
        self._thread.start()
        self._listener("started", self)

    def _feed(self) -> None:
        from tests.synthetic import snapshot

        second = self.age_s
        while not self._stop.wait(0.25):
            for sample in _samples(second, second + 0.25):
                self._model.add_server_look([sample])
            second += 0.25
            if second == int(second):
                self._model.add_engine_message(snapshot(int(second), [200.0] * 80))

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def _samples(start: float, end: float) -> list:
    from tests.synthetic import sample

    count = int((end - start) * 4)
    return [
        sample(
            start + i / 4 + 0.01,
            threadpool_capacity=40,
            threadpool_busy=3,
            threadpool_waiting=0,
            background_pending={"async": 800},
            background_completed={"async": int((start + i / 4) * 80)},
            loop_lag_s=0.002,
            heartbeat_ms=2.0,
            heartbeat_ok=True,
            cpu_percent=10.0,
            rss_bytes=70_000_000,
        )
        for i in range(count)
    ]


async def _ui_cpu(age_s: int, seconds: float) -> float:
    from loadtui.app import AppConfig, LoadtuiApp
    from loadtui.engine.plan import LoadPlan

    AgedRun.age_s = age_s
    config = AppConfig.default(LoadPlan(users=40, duration_s=None))
    app = LoadtuiApp(config, make_run=AgedRun)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(2.0)
        before = time.process_time()
        await pilot.pause(seconds)
        used = time.process_time() - before
        await pilot.press("q")
    return used / seconds * 100


def long_run(seconds: float) -> None:
    import asyncio

    for age in (10, 120, 3600):  # from 120 s on, the per-second charts are drawn full width
        cpu = asyncio.run(_ui_cpu(age, seconds))
        print(f"UI process CPU, two panes on runs {age:>4} s old, fed live: {cpu:.1f}% of a core")


def loadtui(arguments: str) -> str:
    """The shell command that runs loadtui in a temporary directory (the one PYTHONPATH names,
    if any: tmux does not pass this process's environment on)."""
    path = os.environ.get("PYTHONPATH")
    where = f"PYTHONPATH={path} " if path else ""
    return f"cd {tempfile.mkdtemp()} && {where}exec {sys.executable} -m loadtui {arguments}"


def _gone(processes: list[psutil.Process], timeout: float) -> None:
    psutil.wait_procs(processes, timeout=timeout)
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


def _first_frame_once() -> tuple[float, float]:
    """Seconds from the key that starts loadtui to its first frame, and to both panes running."""
    session = f"bench-{uuid.uuid4().hex[:6]}"
    tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", f"read _; {loadtui('')}")
    writes = Writes(session)
    try:
        time.sleep(0.5)  # the control-mode client is attached
        writes.forget()
        started = time.perf_counter()
        tmux("send-keys", "-t", session, "Enter")
        frame = writes.wait(lambda s: "q quit" in s, started, timeout=60)
        running = writes.wait(lambda s: s.count("· running") == 2, started, timeout=60)
        ui = psutil.Process(int(tmux("display-message", "-p", "-t", session, "#{pane_pid}")))
        children = ui.children(recursive=True)
        ui.terminate()  # writes the runs, stops them, exits
        _gone([ui], 30)
        _gone(children, 10)
        return frame, running
    finally:
        writes.close()
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def first_frame(repeat: int) -> None:
    for hogs in (0, 2):
        # each in a session of its own, as other people's work is (Linux schedules sessions as
        # groups: two loops in this one would share the one group's CPU)
        spinning = [
            subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
            for _ in range(hogs)
        ]
        try:
            found = []
            for _ in range(repeat):
                found.append(_first_frame_once())
                time.sleep(1)
        finally:
            for process in spinning:
                process.kill()
                process.wait()
        for what, times in (
            ("first frame", [f for f, _ in found]),
            ("both panes running", [r for _, r in found]),
        ):
            ms = [t * 1000 for t in times]
            print(
                f"{what}, 80x24, {'idle' if not hogs else f'{hogs} busy loops'}: median "
                f"{statistics.median(ms):.0f} ms, max {max(ms):.0f} ms ({repeat} starts: "
                f"{' '.join(f'{t:.0f}' for t in ms)})"
            )
    print(f"machine load average (1 min) at the end: {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--presses", type=int, default=50)
    parser.add_argument("--long-run", action="store_true")
    parser.add_argument("--first-frame", action="store_true")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--watch", choices=("output", "poll"), default="output")
    args = parser.parse_args()
    if args.long_run:
        long_run(args.seconds)
        return
    if args.first_frame:
        first_frame(args.repeat)
        return
    session = f"bench-{uuid.uuid4().hex[:6]}"
    tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "48", loadtui("--users 100"))
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
        writes = Writes(session) if args.watch == "output" else None
        focus, help_screen = [], []
        for _ in range(args.presses):
            for pane in (1, 0):  # tab moves the heavy (focused) border to the other pane
                shown = lambda s, p=pane: focused_pane(s) == p  # noqa: E731
                focus.append(press(session, "Tab", shown, writes))
            help_screen.append(press(session, "?", lambda s: "loadtui keys" in s, writes))
            help_screen.append(press(session, "?", lambda s: "loadtui keys" not in s, writes))
        if writes is not None:
            writes.close()
        print(f"watching the screen by {args.watch}")
        print(f"UI process CPU: {cpu:.1f}% of one core (two panes at 100 users each)")
        print(f"machine load average (1 min) after the presses: {os.getloadavg()[0]:.2f}")
        report("tab (focus moves)", focus)
        report("? (help screen on/off)", help_screen)
    finally:
        tmux("send-keys", "-t", session, "q")  # asks: runs are not exported
        time.sleep(1)
        tmux("send-keys", "-t", session, "q")  # quit without saving
        time.sleep(5)
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


if __name__ == "__main__":
    main()
