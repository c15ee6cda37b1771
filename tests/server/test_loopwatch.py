"""loadtui.server.loopwatch: who is blamed for a stall, from the loop thread's stack: the
application's innermost frame, except where the loop only waited for the OS to run a new thread."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from loadtui.run.verdicts import NO_APP_FRAME
from loadtui.server.appframes import AppCode
from loadtui.server.loopwatch import LOOP_INTERNALS, THREAD_STARTING, Blame, find_culprit

APP = AppCode()

# Stand-ins for the standard library's frames, compiled as if in its modules (the watchdog
# tells plumbing from application code by module name and qualified name): each samples the
# stack it runs in, as the watchdog does meanwhile.
LIBRARY = {
    "threading": """
        class Thread:
            def start(self):
                return find_culprit(sys._getframe(), APP)
        """,
    "json": """
        class JSONEncoder:
            def encode(self):
                return find_culprit(sys._getframe(), APP)
        """,
}


def library(module: str) -> dict:
    namespace: dict = {"__name__": module, "sys": sys, "find_culprit": find_culprit, "APP": APP}
    exec(compile(textwrap.dedent(LIBRARY[module]), f"<{module}>", "exec"), namespace)
    return namespace


def handler(call) -> Blame:
    """Application code calling into the library."""
    return call()


def test_the_innermost_application_frame_is_blamed():
    encoder = library("json")["JSONEncoder"]()
    blame = handler(encoder.encode)
    assert blame.culprit == "handler" and "test_loopwatch.py" in blame.location
    assert blame.leaf == "json JSONEncoder.encode"
    assert any("JSONEncoder.encode" in line for line in blame.stack)


def test_waiting_for_a_new_thread_to_start_is_not_the_applications_blocking():
    thread = library("threading")["Thread"]()
    blame = handler(thread.start)
    assert blame.culprit == THREAD_STARTING and "test_loopwatch.py" in blame.location
    assert blame.culprit.startswith(NO_APP_FRAME)  # judged as a starved loop (loop_starved)
    assert any("Thread.start" in line for line in blame.stack)


def test_no_frame_is_loop_internals():
    assert find_culprit(None, APP) == Blame(LOOP_INTERNALS, "", "", [])


RUN_QUEUE = """
import os, subprocess, sys, threading, time
from loadtui.server.schedstat import RunQueueWatch

os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one CPU, shared with a busy child
hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
try:
    time.sleep(0.2)
    watch = RunQueueWatch(threading.get_native_id())
    watch.mark()
    end = time.monotonic() + 0.6
    while time.monotonic() < end:
        pass
    busy = watch.share_since_mark()
finally:
    hog.kill()
watch.mark()
time.sleep(0.3)
print(busy, watch.share_since_mark())
"""


@pytest.mark.e2e
def test_a_thread_that_shares_its_cpu_is_seen_waiting_for_it():
    """What lets a saturated loop's lag on a busy machine be told from one call blocking it."""
    done = subprocess.run(
        [sys.executable, "-c", RUN_QUEUE], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    busy, idle = (float(value) for value in done.stdout.split())
    assert busy >= 0.2, busy  # about half: two runnable threads on one CPU
    assert idle <= 0.2, idle  # asleep is not waiting for a CPU
