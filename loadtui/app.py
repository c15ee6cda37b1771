"""The Textual app: up to four panes, each loading one route variant, side by side.

No load runs in this process's event loop: every pane's run lives on its own thread,
with its engine in a process of its own; the UI reads run models on a 4 Hz timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import App, ComposeResult, ScreenStackError
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.screen import Screen

from loadtui import exits
from loadtui.engine.plan import LoadPlan
from loadtui.engine.request_spec import RequestSpec
from loadtui.fleet.engines import Cluster
from loadtui.formats import plural
from loadtui.run import document, runfile
from loadtui.run.spec import RunSpec
from loadtui.safe_text import shown
from loadtui.targets.target import Target
from loadtui.tui import route_choices
from loadtui.tui.widgets.keybar import PINNED_KEYS, KeyBar
from loadtui.tui.widgets.pane import RouteChoice, RoutePane
from loadtui.tui.widgets.runs import LiveRun, PaneRun, RunEvents
from loadtui.tui.widgets.screens import (
    HelpScreen,
    QuitChoice,
    QuitScreen,
    ResultRow,
    ResultsScreen,
    VerdictScreen,
)

if TYPE_CHECKING:
    from loadtui.run.exporter import LiveMetrics

MAX_PANES = 4
REFRESH_S = 0.25  # 4 Hz at most: calm over SSH
WIDE_COLUMNS = 120  # below this, panes stack
SHUTDOWN_WAIT_S = 10.0
EXIT_GRACE_S = 5.0
USER_PRESETS = {"1": 10, "2": 40, "3": 100}

RunMaker = Callable[[RunSpec, RunEvents], PaneRun]

# The key bar of the main screen, most needed first; `? help` and `q quit` are pinned right.
MAIN_KEYS = (
    ("←→", "route"),
    ("1 2 3 + -", "users"),
    ("space", "stop/start"),
    ("d", "verdicts"),
    ("v", "results"),
    ("e", "export"),
    ("tab", "pane"),
    ("a x", "add/close"),
    ("r", "fresh"),
)


@dataclass(frozen=True)
class AppConfig:
    routes: list[RouteChoice]
    panes: list[tuple[int, int]]  # (index into routes, users) for each starting pane
    plan: LoadPlan
    target: Target | None = None
    threads: int | None = None
    runs_dir: Path = Path("runs")
    # The app owns its process (set by prepare.tui_config for the CLI): if restoring a lost
    # terminal hangs on the way out, end the process anyway. Never in-process (tests), where
    # it would end the host.
    hard_exit: bool = False
    engines: int = 1  # engine processes per pane (--engines)
    cluster: Cluster | None = None  # --ray: where they run
    # the routes are the target's OpenAPI operations, asked as ``shape`` says, once it is
    # reached (route_choices.from_openapi; until then ``routes`` are the demo's)
    openapi: bool = False
    openapi_from: str | None = None  # --openapi: the document's URL or file
    shape: RequestSpec | None = None
    notice: str = ""  # one line shown when the TUI opens (where its routes came from)
    cookies: bool = True  # a scenario's users keep cookie jars (--no-cookies: they do not)
    live: LiveMetrics | None = None  # --prometheus-port: every run's figures served there

    @classmethod
    def default(cls, plan: LoadPlan) -> AppConfig:
        routes = route_choices.demo()
        keys = [choice.route for choice in routes]
        users = plan.users
        return cls(routes, [(keys.index("5"), users), (keys.index("4"), users)], plan)


def with_target_routes(config: AppConfig) -> AppConfig:
    """``config`` with the routes of its target's OpenAPI document when it asks for them (this
    fetches the document: call it once the target is reached), a pane on the first.
    OpenAPIError when the document --openapi names cannot be used."""
    if not config.openapi or config.target is None:
        return config
    found = route_choices.from_openapi(config.target, config.shape, config.openapi_from)
    config = replace(config, openapi=False, notice=found.notice)
    if found.routes == config.routes:  # loadtui's demo server: its variants, as without --target
        return config
    return replace(config, routes=found.routes, panes=[(0, config.plan.users)], target=found.target)


class Collector:
    """Python's cyclic collector, paced for an interactive screen.

    The UI process allocates ~35,000 objects a second under load (Textual's rendered strips,
    the probe's samples): at the default thresholds that made a full pass of 10-45 ms every
    ~2 s, holding the GIL wherever it ran, the largest part of the slowest key presses. Objects
    alive once the screen is first drawn are frozen (never scanned again), and the young
    generation is allowed to grow larger before a pass, so full passes come about 15 times
    less often.
    """

    THRESHOLDS = (10_000, 10, 10)

    def __init__(self) -> None:
        self._before = gc.get_threshold()

    def start(self, app: App[int]) -> None:
        app.call_after_refresh(gc.freeze)
        gc.set_threshold(*self.THRESHOLDS)

    def stop(self) -> None:
        gc.set_threshold(*self._before)


class MainScreen(Screen[None]):
    """The panes in a grid (two columns when wide, stacked when narrow) and the key bar."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,p", "app.route(-1)", "prev", key_display="←/p", tooltip="previous route"),
        Binding("right,n", "app.route(1)", "next", key_display="→/n", tooltip="next route"),
        Binding("1", "app.users('1')", "10u", tooltip="10 users"),
        Binding("2", "app.users('2')", "40u", tooltip="40 users"),
        Binding("3", "app.users('3')", "100u", tooltip="100 users"),
        Binding(
            "plus,equals_sign", "app.more(10)", "+10", key_display="+", tooltip="10 more users"
        ),
        Binding("minus", "app.more(-10)", "-10", key_display="-", tooltip="10 fewer users"),
        Binding(
            "space",
            "app.toggle",
            "stop/start",
            tooltip="stop the focused pane (its figures stay) or start it again",
        ),
        Binding("d", "app.verdicts", "verdicts", tooltip="the focused pane's verdicts in full"),
        Binding("v", "app.results", "results", tooltip="every run side by side"),
        Binding("e", "app.export", "export", tooltip="write every run to runs/<stamp>/"),
        Binding("tab", "app.next_pane", "pane", tooltip="focus the next pane"),
        Binding("a", "app.add_pane", "add", tooltip="add a pane (up to four)"),
        Binding("x", "app.close_pane", "close", tooltip="close the focused pane"),
        Binding("r", "app.fresh", "fresh", tooltip="new run on a fresh server"),
    ]

    def __init__(self, owner: LoadtuiApp) -> None:
        super().__init__()
        self.owner = owner

    def compose(self) -> ComposeResult:
        with Grid(id="panes"):
            config = self.owner.config
            for number, (route_index, users) in enumerate(config.panes[:MAX_PANES]):
                yield self.owner.new_pane(route_index, users, number)
        yield KeyBar(MAIN_KEYS, PINNED_KEYS)

    def on_mount(self) -> None:
        self.place_panes()
        self.owner.select(self.panes()[0])

    def on_resize(self) -> None:
        self.place_panes()

    def place_panes(self) -> None:
        grid = self.query_one("#panes", Grid)
        count = len(self.panes())
        wide = self.size.width >= WIDE_COLUMNS
        grid.styles.grid_size_columns = 2 if wide and count > 1 else 1
        grid.styles.grid_size_rows = (count + 1) // 2 if wide else count

    def panes(self) -> list[RoutePane]:
        return list(self.query(RoutePane))


class LoadtuiApp(App[int]):
    CSS_PATH = "loadtui.tcss"
    TITLE = "loadtui"
    ENABLE_COMMAND_PALETTE = False
    # on every screen; the panes' own keys are the main screen's
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "help", key_display="?", tooltip="this key map"),
        Binding(
            "q",
            "quit",
            "quit",
            tooltip="stop everything and leave; asks first if runs are not exported",
        ),
        Binding(
            "ctrl+c",
            "interrupt",
            "save and leave",
            key_display="ctrl+c",
            tooltip="stop, write everything measured to runs/<stamp>/, exit code 130",
            priority=True,
        ),
    ]

    def __init__(self, config: AppConfig, make_run: RunMaker = LiveRun) -> None:
        super().__init__()
        self.config = config
        self._make_run = make_run
        self.closed_runs: list[PaneRun] = []
        self.last_export: Path | None = None
        self._exported: dict[int, int] = {}  # id(run): the model version last written
        self.export_error: str | None = None
        self.farewell: Text | None = None  # printed once the TUI is gone
        self._stopping = False
        self._main: MainScreen | None = None
        self._focused: RoutePane | None = None
        self._collector = Collector()

    # ---- layout ------------------------------------------------------------------------
    def get_default_screen(self) -> Screen:
        self._main = MainScreen(self)
        return self._main

    @property
    def main(self) -> MainScreen:
        if self._main is None:
            raise RuntimeError("the app is not running")
        return self._main

    def new_pane(self, route_index: int, users: int, number: int) -> RoutePane:
        return RoutePane(self.config.routes, route_index, users, self._run_for, id=f"pane-{number}")

    def on_mount(self) -> None:
        self._collector.start(self)
        if self.config.notice:
            self.notify(shown(self.config.notice), timeout=8, markup=False)
        if self.config.live is not None:
            self.notify(f"Prometheus metrics at {self.config.live.url}", timeout=8, markup=False)
        # run and probe threads share the GIL with the UI: hand it over more often
        sys.setswitchinterval(0.001)
        self.set_interval(REFRESH_S, self._refresh_panes)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            # not possible off the main thread (some tests) or on every platform
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self._on_signal)

    def on_unmount(self) -> None:
        self._collector.stop()

    def panes(self) -> list[RoutePane]:
        return self.main.panes()

    def _refresh_panes(self) -> None:
        try:
            showing = self.screen
        except ScreenStackError:  # the app is closing and its screens are gone: nothing to draw
            return
        if showing is self.main:  # covered panes wait
            for pane in self.panes():
                pane.redraw()

    @property
    def pane(self) -> RoutePane:
        """The focused pane: the one the keys act on."""
        panes = self.panes()
        return self._focused if self._focused in panes else panes[0]

    def select(self, pane: RoutePane) -> None:
        """Focus ``pane``. Not Textual's focus: moving that restyles and redraws every line of
        both panes, the most a key press cost under load; this redraws two borders."""
        for other in self.panes():
            other.show_focus(other is pane)
        self._focused = pane

    def action_next_pane(self) -> None:
        panes = self.panes()
        self.select(panes[(panes.index(self.pane) + 1) % len(panes)])

    # ---- runs ----------------------------------------------------------------------
    def _run_for(self, choice: RouteChoice, users: int, listener: RunEvents) -> PaneRun:
        spec = RunSpec(
            route=choice.route,
            plan=replace(self.config.plan, users=users),
            target=self.config.target,
            threads=self.config.threads,
            shape=choice.shape,
            scenario=choice.scenario,
            engines=self.config.engines,
            cluster=self.config.cluster,
            cookies=self.config.cookies,
        )
        return self._make_run(spec, self._served(listener))

    def _served(self, listener: RunEvents) -> RunEvents:
        """``listener``, and with --prometheus-port each run's model served as it starts: a
        run says "started" on its own thread before it feeds its model anything."""
        live = self.config.live
        if live is None:
            return listener

        def heard(event: str, run: PaneRun) -> None:
            if event == "started" and run.model is not None:
                live.watch(run.model)
            listener(event, run)

        return heard

    def all_runs(self) -> list[PaneRun]:
        return self.closed_runs + [s for pane in self.panes() for s in pane.runs()]

    def unsaved(self) -> list[PaneRun]:
        """Runs that measured something no run file holds: never written, changed since,
        or still running (stopping it adds its last moments)."""
        return [run for run in self.all_runs() if self._unsaved(run)]

    def _unsaved(self, run: PaneRun) -> bool:
        model = run.model
        if model is None or model.t0_mono is None:
            return False
        return not run.ended or self._exported.get(id(run)) != model.version

    def result_rows(self) -> list[ResultRow]:
        rows = []
        for run in self.all_runs():
            model = run.model
            if model is not None and model.t0_mono is not None:
                doc = document.build(model)
                rows.append(ResultRow(doc, "this session", running=not run.ended))
        return rows

    # ---- actions on the focused pane -----------------------------------------------------
    def action_route(self, step: int) -> None:
        self.pane.change(route_step=step)

    def action_users(self, preset: str) -> None:
        self.pane.change(users=USER_PRESETS[preset])

    def action_more(self, delta: int) -> None:
        self.pane.change(users=self.pane.users + delta)

    def action_toggle(self) -> None:
        self.pane.toggle()

    def action_fresh(self) -> None:
        self.pane.start_run()

    def action_add_pane(self) -> None:
        panes = self.panes()
        if len(panes) >= MAX_PANES:
            self.notify(f"{MAX_PANES} panes at most", severity="warning")
            return
        last = panes[-1]
        number = max(int(p.id.rsplit("-", 1)[1]) for p in panes) + 1  # type: ignore[union-attr]
        pane = self.new_pane(self._unshown_route(last.route_index), last.users, number)
        self.main.query_one("#panes", Grid).mount(pane)
        self.main.place_panes()
        self.call_after_refresh(self.select, pane)

    def _unshown_route(self, after: int) -> int:
        """The next route after ``after`` that no pane shows (or just the next one)."""
        shown_now = {pane.route_index for pane in self.panes()}
        count = len(self.config.routes)
        candidates = [(after + step) % count for step in range(1, count + 1)]
        return next((i for i in candidates if i not in shown_now), candidates[0])

    def action_close_pane(self) -> None:
        panes = self.panes()
        if len(panes) == 1:
            self.notify("the last pane stays; q quits", severity="warning")
            return
        pane = self.pane
        pane.stop_run()
        self.closed_runs += pane.runs()
        index = panes.index(pane)
        pane.remove()
        remaining = [p for p in panes if p is not pane]
        self.select(remaining[min(index, len(remaining) - 1)])
        self.call_after_refresh(self.main.place_panes)

    # ---- files -------------------------------------------------------------------------
    def action_export(self) -> None:
        written = self.export()
        if written:
            where = shown(f"{written[0].parent}/")
            self.notify(f"wrote {len(written)} run files to {where}", timeout=6, markup=False)

    def export(self, interrupted: list[PaneRun] | None = None) -> list[Path]:
        """Every run (finished or running) as a run file under runs/<stamp>/.

        Runs in ``interrupted`` (cut short by a signal) are marked so in their files.
        """
        measured = [
            (number, run)
            for number, run in enumerate(self.all_runs(), start=1)
            if run.model is not None and run.model.t0_mono is not None
        ]
        if not measured:
            return []
        written: list[Path] = []
        directory = None
        try:
            directory = runfile.new_run_dir(self.config.runs_dir)
            for number, run in measured:
                model = run.model
                assert model is not None
                if interrupted and run in interrupted:
                    model.finish("interrupted")
                route = model.variant_key or model.target.route
                name = runfile.file_name(route, model.plan.users, run.spec.method)
                path = directory / f"{number:02d}-{name}"
                version = model.version
                runfile.write(path, document.build(model))
                self._exported[id(run)] = version
                written.append(path)
        except OSError as exc:
            self.export_error = shown(f"export failed: {exc.strerror or exc}")
            self.notify(self.export_error, severity="error", timeout=10, markup=False)
        self.last_export = directory if written else self.last_export
        return written

    # ---- screens -----------------------------------------------------------------------
    def action_results(self) -> None:
        self.push_screen(ResultsScreen(self.result_rows, self.config.runs_dir))

    def action_verdicts(self) -> None:
        pane = self.pane
        self.push_screen(VerdictScreen(pane.describe, lambda: pane.model))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen([*MainScreen.BINDINGS, *self.BINDINGS]))

    # ---- leaving -----------------------------------------------------------------------
    async def action_quit(self) -> None:
        """Leave at once when everything measured is saved; otherwise ask (`q` again: leave)."""
        if self._stopping or isinstance(self.screen, QuitScreen):
            return
        unsaved = self.unsaved()
        if not unsaved:
            self._stop_everything(save=False, code=exits.OK)
            return
        self.push_screen(QuitScreen(len(unsaved), self.config.runs_dir), self._quit_chosen)

    def _quit_chosen(self, choice: QuitChoice | None) -> None:
        if choice == "export":
            self._stop_everything(save=True, code=exits.OK)
        elif choice == "discard":
            self._stop_everything(save=False, code=exits.OK)

    def action_interrupt(self) -> None:
        """Ctrl-C: as the README promises, save what was measured and exit 130."""
        self._stop_everything(save=True, code=exits.INTERRUPTED)

    def _on_signal(self) -> None:
        self._stop_everything(save=True, code=exits.INTERRUPTED)

    def _stop_everything(self, save: bool, code: int) -> None:
        """Stop every run (engines, servers) off the UI thread, write what was measured
        when asked (marked interrupted after Ctrl-C or a signal), then leave saying where
        the files went."""
        if self._stopping:
            return
        self._stopping = True
        self.notify("stopping …", timeout=SHUTDOWN_WAIT_S)
        runs = self.all_runs()
        cut_short = [run for run in runs if not run.ended]
        unsaved = len(self.unsaved())
        for run in runs:
            run.stop()

        def wait_then_exit() -> None:
            for run in runs:
                run.join(SHUTDOWN_WAIT_S)
            written: list[Path] = []
            if save:
                interrupted = cut_short if code == exits.INTERRUPTED else None
                written = self.call_from_thread(self.export, interrupted)
            self.farewell = farewell = self._farewell(save, written, unsaved)
            # asked to export and could not: a file could not be written (after Ctrl-C: 130)
            failed = save and self.export_error is not None and code == exits.OK
            result = exits.FAILED if failed else code
            if self.config.hard_exit:
                # If the terminal is gone (SIGHUP: the SSH connection dropped), restoring it
                # can block forever; everything is saved and stopped by now, so leave anyway.
                fallback = threading.Timer(EXIT_GRACE_S, os._exit, args=(result,))
                fallback.daemon = True  # a normal exit does not wait for it
                fallback.start()
            self.call_from_thread(self.exit, result, result, farewell)

        threading.Thread(target=wait_then_exit, name="loadtui-shutdown", daemon=True).start()

    def _farewell(self, save: bool, written: list[Path], unsaved: int) -> Text:
        """One line for the terminal after the TUI is gone: where the files went."""
        if written:
            line = f"loadtui: wrote {len(written)} run files to {written[0].parent}/"
        elif save and self.export_error:
            line = f"loadtui: {self.export_error}"
        elif unsaved:
            line = f"loadtui: quit without saving {plural(unsaved, 'run')}"
        elif self.last_export is not None:
            line = f"loadtui: everything measured is in {self.last_export}/"
        else:
            line = "loadtui: nothing was measured, nothing written"
        if not written and self.last_export is not None and unsaved:
            line += f" (the last export is in {self.last_export}/)"
        return Text(shown(line))
