"""loadtui.app with loadtui.probe's long poll on a real app's sidecar: a stall of its event loop
is on the pane at once, the culprit named with its file:line and the call it was in. The app's
sidecar has no /stalls here (the list the probe once read once a second): only the long poll
(/stalls/wait, loadtui.server.stallnews) can name the culprit."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from loadtui.app import LoadtuiApp
from loadtui.cli import options
from loadtui.cli.parser import build_parser
from loadtui.tui.widgets.pane import RoutePane
from tests.apps import BLOCKING, serve_app
from tests.helpers import LOAD, get
from tests.pilot import until

pytestmark = [pytest.mark.e2e, LOAD]

APP = (
    BLOCKING
    + """
    routes = ins._sidecar_routes
    ins._sidecar_routes = lambda: {p: r for p, r in routes().items() if p != "/stalls"}
"""
)
NAMED = "compress_report (app_under_test.py:9) → time.sleep is blocking the event loop"
# The old probe read a culprit once a second at most: this is well before it, with room for a
# busy machine (typically 0.1 s of stall before it is one, and a few ms to the screen).
ON_SCREEN_WITHIN_S = 1.0


def banner(pane: RoutePane) -> str:
    shown = pane.query_one("#banner")
    return str(shown.render()) if shown.display else ""


def sidecar_found(pane: RoutePane) -> bool:
    return pane.model is not None and "metrics sidecar" in pane.model.signals.available


def block(url: str, seconds: float) -> threading.Thread:
    thread = threading.Thread(target=get, args=(f"{url}/block?seconds={seconds}", 30))
    thread.start()
    return thread


def tui(url: str, tmp_path: Path) -> LoadtuiApp:
    argv = ["--target", url, "--route", "/ok", "--users", "2"]
    config = options.tui_config(build_parser().parse_args(argv))
    return LoadtuiApp(replace(config, hard_exit=False, runs_dir=tmp_path / "runs"))


async def test_a_stall_is_on_screen_at_once_named_where_it_is(tmp_path):
    with serve_app(APP, tmp_path) as served:
        app = tui(served.url, tmp_path)
        async with app.run_test(size=(160, 48)) as pilot:
            pane = app.panes()[0]
            await until(pilot, lambda: pane.status == "running" and sidecar_found(pane))
            # a first stall, until the probe holds the sidecar's long poll
            warm_up = block(served.url, 1.0)
            await until(pilot, lambda: NAMED in banner(pane))
            warm_up.join()
            await until(pilot, lambda: not banner(pane))

            started = time.monotonic()
            blocking = block(served.url, 3.0)
            while NAMED not in banner(pane) and time.monotonic() - started < 10:
                await pilot.pause(0.01)
            shown_after = time.monotonic() - started
            line = banner(pane)
            blocking.join()
            pane.stop_run()
            await until(pilot, lambda: pane.run.ended)
    assert NAMED in line, line
    assert shown_after < ON_SCREEN_WITHIN_S, f"on screen {shown_after:.2f} s after the stall began"
