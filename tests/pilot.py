"""The TUI in this process under Textual's Pilot: apps fed by the deterministic fake feed
(tests/fake_feed.py), what their screen shows as text, and waiting for a condition."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import replace

from rich.console import Console
from textual.pilot import Pilot

from loadtui.app import AppConfig, LoadtuiApp
from loadtui.engine.plan import LoadPlan
from loadtui.targets.target import Target
from loadtui.tui.widgets.pane import APPLY_DELAY_S, RouteChoice
from tests.fake_feed import FakeRun

SETTLE = APPLY_DELAY_S + 0.3  # a key's change applied, and a little more
HOSTILE_ROUTES = ["/a[/b]", "/[bold red]RED[/]", "/q?a[]=1"]


def make_app(tmp_path, **changes) -> LoadtuiApp:
    plan = LoadPlan(users=40, duration_s=None)
    changes.setdefault("runs_dir", tmp_path / "runs")
    config = replace(AppConfig.default(plan), **changes)
    return LoadtuiApp(config, make_run=FakeRun)


def hostile_app(tmp_path, **changes) -> LoadtuiApp:
    """Panes on routes whose names look like Rich markup, on a given target."""
    target = Target(url="http://127.0.0.1:8000", host="127.0.0.1", port=8000, route="/")
    routes = [RouteChoice(route, route, "") for route in HOSTILE_ROUTES]
    panes = [(i, 40) for i in range(len(routes))]
    return make_app(tmp_path, routes=routes, panes=panes, target=target, **changes)


def screen_text(app: LoadtuiApp) -> str:
    """Everything on the screen, as a person reads it."""
    width, height = app.size
    console = Console(
        width=width, height=height, file=io.StringIO(), record=True, legacy_windows=False
    )
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text()


async def until(pilot: Pilot, done: Callable[[], object], timeout: float = 30.0) -> None:
    """Let the app run until ``done()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.25)
