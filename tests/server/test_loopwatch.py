"""loadtui.server.loopwatch: who is blamed for a stall, from the loop thread's stack: the
application's innermost frame, except where the loop only waited for the OS to run a new thread."""

from __future__ import annotations

import sys
import textwrap

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
