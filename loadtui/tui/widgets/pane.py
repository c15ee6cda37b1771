"""One pane: one route at one load, live. Changing its route or users starts a new run
(on a fresh server when loadtui spawns them); finished runs stay in its history."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import Static

from loadtui.engine.request_spec import RequestSpec
from loadtui.formats import clock
from loadtui.run import verdicts
from loadtui.run.model import RunModel
from loadtui.run.rundoc import Verdict
from loadtui.safe_text import shown
from loadtui.tui.widgets import render
from loadtui.tui.widgets.messages import RunEvent
from loadtui.tui.widgets.runs import PaneRun, RunEvents

APPLY_DELAY_S = 0.6  # a burst of key presses becomes one new run
VERDICTS_EVERY_S = 1.0


@dataclass(frozen=True)
class RouteChoice:
    route: str  # what the run loads: a variant key or a path (a scenario's name)
    label: str  # short, for the pane's title
    pattern: str  # handler / inner / background, or the path
    shape: RequestSpec | None = None  # how the route is asked (None: a plain GET)
    scenario: tuple[RequestSpec, ...] = ()  # a mix of named requests instead of the route
    chosen: str = ""  # why loadtui chose a route nobody named (a fallback): the pane says so


RunFactory = Callable[[RouteChoice, int, RunEvents], PaneRun]


FOCUS_BORDER = "heavy"


class RoutePane(Vertical):
    def __init__(
        self,
        routes: list[RouteChoice],
        route_index: int,
        users: int,
        make_run: RunFactory,
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.routes = routes
        self.route_index = route_index
        self.users = users
        self.make_run = make_run
        self.run: PaneRun | None = None
        self.history: list[PaneRun] = []
        self.status = "starting"
        self._apply_timer: Timer | None = None
        self._drawn: tuple[object, ...] = ()
        self._titles: tuple[str, str] = ("", "")
        self.focused = False
        self._verdicts: list[Verdict] = []
        self._verdicts_at: tuple[int, float] = (-1, 0.0)
        self._banner = Static(id="banner", classes="stall")
        self._client = Static(classes="client")
        self._server = Static(classes="server")
        self._lower = Static(classes="lower")
        self._shown: dict[Static, object] = {}

    def compose(self) -> ComposeResult:
        yield self._banner
        yield self._client
        yield self._server
        yield self._lower

    def on_mount(self) -> None:
        self.redraw(force=True)  # "starting …"
        # Its server and engines start once the first frame is on screen: spawning them competes
        # for the cores with the UI's own start-up.
        self.call_after_refresh(self._start_first_run)

    def _start_first_run(self) -> None:
        if self.run is None:  # a key may have started one meanwhile
            self.start_run()

    def on_resize(self) -> None:
        self.redraw()  # the figures' form follows the width

    def show_focus(self, focused: bool) -> None:
        """A heavy border in the accent colour when focused (the shape says it without colour
        too); set on this pane alone, so that its lines need no new rendering."""
        if focused == self.focused:
            return
        self.focused = focused
        # (a border-title-style here would restyle every line inside: the title's Text is bold)
        accent = self.app.get_css_variables()["accent"]
        self.styles.border = (FOCUS_BORDER, accent) if focused else None
        self.border_title = Text(self._titles[0], style="bold" if focused else "")

    # ---- what the pane loads ---------------------------------------------------------
    @property
    def choice(self) -> RouteChoice:
        return self.routes[self.route_index]

    @property
    def model(self) -> RunModel | None:
        return self.run.model if self.run else None

    @property
    def running(self) -> bool:
        return self.run is not None and not self.run.ended

    def describe(self) -> str:
        """What the pane shows, in one line (for the screens over it)."""
        model = self.model
        elapsed = clock(model.elapsed_s()) if model else "0:00"
        choice = self.choice
        what = f"{choice.label}  {choice.pattern}".strip()
        return f" {what} · {self.users} users · {self.status} {elapsed} "

    def runs(self) -> list[PaneRun]:
        return self.history + ([self.run] if self.run else [])

    def start_run(self) -> None:
        """A new run on the pane's route and load; the one before goes to the history."""
        if self.run is not None:
            self.run.stop()
            self.history.append(self.run)
        self.run = self.make_run(self.choice, self.users, self._from_thread)
        self.status = "starting"
        self.run.start()
        self.redraw(force=True)

    def stop_run(self) -> None:
        """Stop the pane's run; what it measured stays on screen."""
        if self.run is not None and not self.run.ended:
            self.run.stop()
            self.status = "stopped"

    def change(self, *, route_step: int = 0, users: int | None = None) -> None:
        """Pick a new route or load; the new run starts once the keys settle."""
        self.route_index = (self.route_index + route_step) % len(self.routes)
        if users is not None:
            self.users = max(1, users)
        self.status = "changing"
        if self._apply_timer is not None:
            self._apply_timer.stop()
        self._apply_timer = self.set_timer(APPLY_DELAY_S, self.start_run)
        self.redraw(force=True)

    def toggle(self) -> None:
        if self.running:
            self.stop_run()
            self.redraw(force=True)
        else:
            self.start_run()

    # ---- events from the run's thread --------------------------------------------
    def _from_thread(self, event: str, run: PaneRun) -> None:
        self.post_message(RunEvent(run, event))  # type: ignore[arg-type]

    def on_run_event(self, message: RunEvent) -> None:
        message.stop()
        if message.run is not self.run:
            return  # a run this pane already left behind
        if message.event == "stall":
            if self.app.screen is self.screen:  # covered panes wait, as for the timer
                self.redraw()
            return
        if message.event == "started":
            self.status = "running"
        elif message.event == "failed":
            self.status = f"failed: {message.run.error}"
        elif self.status != "stopped":  # a run stopped here ends as "stopped"
            self.status = "ended"
        self.redraw(force=True)

    # ---- drawing -----------------------------------------------------------------------
    def redraw(self, force: bool = False) -> None:
        """Called by the app's timer (at most 4 Hz) and on state changes."""
        model = self.model
        key = (model.version if model else None, self.status, self.size)
        if (key == self._drawn and not force) or not self._lower.is_mounted:
            return
        self._drawn = key
        choice = self.choice
        elapsed = clock(model.elapsed_s()) if model else "0:00"
        titles = (
            shown(f" {f'{choice.label}  {choice.pattern}'.strip()} "),
            shown(f" {self.users} users · {self.status} {elapsed} "),
        )
        if titles != self._titles:
            self._titles = titles
            # as Text: a route such as "/a[/b]" is a name, not markup
            self.border_title = Text(titles[0], style="bold" if self.focused else "")
            self.border_subtitle = Text(titles[1])
        width = max(40, self.content_size.width)
        stall = render.stall_banner(model.stall_now(), width, model.workers) if model else None
        if self._banner.display != (stall is not None):
            self._banner.display = stall is not None  # this one changes the layout:
            self.call_after_refresh(self.redraw, True)  # the lower part's height with it
        if stall is not None:
            self._banner.update(stall, layout=False)
        self._draw_parts(model, width)

    def _show(self, part: Static, key: object, content: Callable[[], Group | Text]) -> None:
        """Re-render a part only when what it shows changed (rendering is the UI's cost)."""
        if self._shown.get(part) != key:
            self._shown[part] = key
            part.update(content(), layout=False)  # every part has a fixed size

    def _draw_parts(self, model: RunModel | None, width: int) -> None:
        if model is None:
            text = shown(self.status) if self.status.startswith("failed") else "starting …"
            for part in (self._client, self._server):
                self._show(part, text, Text)
            self._show(self._lower, text, lambda: Text(text, style=render.BAD))
            return
        latest = model.latest()
        interval = latest.t if latest else 0.0
        self._show(
            self._client,
            (model.run_id, interval, width),
            lambda: Group(*render.client(model, width)),
        )
        self._show(
            self._server,
            (model.run_id, model.server_window(), width, model.workers),
            lambda: Group(*render.server(model, width)),
        )
        found = self._current_verdicts(model)
        height = self._lower.content_size.height
        self._show(
            self._lower,
            (model.run_id, interval, tuple(found), width, height, self.status),
            lambda: self._lower_part(model, found, width, height),
        )

    def _lower_part(self, model: RunModel, found: list[Verdict], width: int, height: int) -> Group:
        failed = self.status.startswith("failed")
        chosen = self.choice.chosen
        notes = (
            render.fallback(model.target.route, chosen, model.summary(), width) if chosen else []
        )
        lines = notes + render.lower(model, found, width, height - failed - len(notes))
        if failed:
            lines.insert(0, Text(shown(self.status), style=render.BAD))
        return Group(*lines)

    def _current_verdicts(self, model: RunModel) -> list[Verdict]:
        version, at = self._verdicts_at
        now = time.monotonic()
        if model.version != version and (now - at >= VERDICTS_EVERY_S or model.finished):
            self._verdicts = verdicts.compute(model)
            self._verdicts_at = (model.version, now)
        return self._verdicts
