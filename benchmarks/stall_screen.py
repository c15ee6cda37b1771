"""Stall to screen: how soon after an app's event loop stops the TUI shows it, as one sees it.

Serves a small instrumented app (uvicorn, one worker, loopback) and runs the real `loadtui
--target URL --route /ok --users 2` against it in tmux (one pane, 120x30). Each try, at a
random moment, asks the app's `/block?seconds=S`: an `async def` route that blocks its loop in
`compress_report` (time.sleep) and answers when it began (the app's wall clock, this machine's).
A tmux control-mode client reports every write loadtui makes to its terminal (tui_cost's
Writes); the try is timed from the stall's start to the write after which the screen shows the
STALL banner, and to the one after which the banner names the culprit. Then the loop runs again
and the banner goes before the next try.

    .venv/bin/python -m benchmarks.stall_screen [--repeat 9] [--seconds 2] [--hogs 2]
    PYTHONPATH=/tmp/old .venv/bin/python -m benchmarks.stall_screen   # another loadtui, in /tmp/old

(The app and the TUI both run from the PYTHONPATH given: the sidecar and the probe are the pair
that is measured.) ``--hogs N`` keeps N busy loops running meanwhile, each in a session of its
own, as other people's work is.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path

import httpx

from benchmarks.tui_cost import Writes, loadtui, rank, tmux, wait_screen
from tests.apps import BLOCKING, free_port

CULPRIT = "compress_report"


def serve(app_dir: Path, port: int) -> subprocess.Popen[bytes]:
    (app_dir / "stall_app.py").write_text(textwrap.dedent(BLOCKING))
    command = [sys.executable, "-m", "uvicorn", "stall_app:app", "--app-dir", str(app_dir)]
    command += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    # from the app's directory: never this checkout's loadtui ahead of PYTHONPATH's
    proc = subprocess.Popen(command, cwd=app_dir, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/ok", timeout=1).raise_for_status()
            return proc
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("the app did not start")


class Stall:
    """One stall of ``seconds`` asked of the app now; ``began`` (perf_counter) once answered."""

    def __init__(self, url: str, seconds: float) -> None:
        self.asked_perf, self.asked_epoch = time.perf_counter(), time.time()
        self.began: float | None = None
        self._thread = threading.Thread(target=self._ask, args=(url, seconds))
        self._thread.start()

    def _ask(self, url: str, seconds: float) -> None:
        answer = httpx.get(f"{url}/block", params={"seconds": seconds}, timeout=seconds + 30)
        self.began = self.asked_perf + answer.json()["began"] - self.asked_epoch

    def join(self) -> float:
        self._thread.join()
        assert self.began is not None
        return self.began


def banner_names(screen: str) -> bool:
    """The STALL banner names the culprit (the verdicts below name it too, after a stall)."""
    return any("STALL" in line and CULPRIT in line for line in screen.splitlines())


def one_try(session: str, writes: Writes, url: str, seconds: float) -> tuple[float, float]:
    """Seconds from the stall's start to the banner on screen, and to its culprit named."""
    writes.forget()
    stall = Stall(url, seconds)
    banner = writes.wait(lambda s: "STALL" in s, stall.asked_perf, timeout=seconds + 10)
    named = banner
    if not banner_names(tmux("capture-pane", "-p", "-t", session)):
        named = writes.wait(banner_names, stall.asked_perf, timeout=seconds + 10)
    began = stall.join() - stall.asked_perf
    wait_screen(session, lambda s: "STALL" not in s, timeout=30)
    return banner - began, named - began


def summary(what: str, delays: list[float]) -> str:
    ms = sorted(d * 1000 for d in delays)
    return (
        f"{what}: median {statistics.median(ms):.0f} ms, min {ms[0]:.0f}, p90 "
        f"{rank(ms, 0.9):.0f}, max {ms[-1]:.0f} ({len(ms)} stalls: "
        f"{' '.join(f'{m:.0f}' for m in ms)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=2.0, help="each stall's length")
    parser.add_argument("--hogs", type=int, default=0, help="busy loops beside it")
    args = parser.parse_args()
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
        for _ in range(args.hogs)
    ]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = serve(Path(tempfile.mkdtemp()), port)
    session = f"bench-{uuid.uuid4().hex[:6]}"
    command = loadtui(f"--target {url} --route /ok --users 2")
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "30", command)
    writes = Writes(session)
    try:
        wait_screen(session, lambda s: "2 users · running" in s, timeout=60)
        time.sleep(3)  # the probe has found the sidecar
        one_try(session, writes, url, 1.0)  # a first stall, not counted
        found = []
        for _ in range(args.repeat):
            time.sleep(random.uniform(1.5, 2.5))  # anywhere in the probe's quarter second
            found.append(one_try(session, writes, url, args.seconds))
    finally:
        writes.close()
        tmux("send-keys", "-t", session, "q", "q")
        time.sleep(2)
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(app.pid, 15)
        app.wait(10)
        for hog in hogs:
            hog.kill()
            hog.wait()
    beside = f", {args.hogs} busy loops beside it" if args.hogs else ""
    print(f"stall to screen, {args.seconds:g} s stalls{beside}, loadtui {loadtui_version()}:")
    print("  " + summary("banner on screen", [b for b, _ in found]))
    print("  " + summary("culprit named", [n for _, n in found]))
    print(f"  machine load average (1 min) at the end: {os.getloadavg()[0]:.2f}")


def loadtui_version() -> str:
    """Where the loadtui measured comes from (as the app and the TUI import it)."""
    return subprocess.run(
        [sys.executable, "-c", "import loadtui, os; print(os.path.dirname(loadtui.__file__))"],
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),
    ).stdout.strip()


if __name__ == "__main__":
    main()
