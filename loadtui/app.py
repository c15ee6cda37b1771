"""The Textual app: up to four panes, each loading one route variant, side by side.

No load runs in this process's event loop: every pane's segment lives on its own thread,
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
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.widgets import Footer

from loadtui import document, exits, runfile, verdicts
from loadtui.fleet import Cluster
from loadtui.plan import LoadPlan
from loadtui.rundoc import RunDocument
from loadtui.server.variants import VARIANTS
from loadtui.session import SegmentSpec
from loadtui.target import Target
from loadtui.widgets.pane import RouteChoice, RoutePane
from loadtui.widgets.screens import HelpScreen, ResultsScreen
from loadtui.widgets.segments import Listener, LiveSegment, Segment

MAX_PANES = 4
REFRESH_S = 0.25  # 4 Hz at most: calm over SSH
WIDE_COLUMNS = 120  # below this, panes stack
SHUTDOWN_WAIT_S = 10.0
EXIT_GRACE_S = 5.0
USER_PRESETS = {"1": 10, "2": 40, "3": 100}

SegmentMaker = Callable[[SegmentSpec, Listener], Segment]


def demo_routes() -> list[RouteChoice]:
    return [RouteChoice(v.key, v.key, v.pattern) for v in VARIANTS]


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

    @classmethod
    def default(cls, plan: LoadPlan) -> AppConfig:
        routes = demo_routes()
        keys = [choice.route for choice in routes]
        users = plan.users
        return cls(routes, [(keys.index("5"), users), (keys.index("4"), users)], plan)


class LoadtuiApp(App[int]):
    CSS_PATH = "loadtui.tcss"
    TITLE = "loadtui"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,p", "route(-1)", "prev", key_display="←/p", tooltip="previous route"),
        Binding("right,n", "route(1)", "next", key_display="→/n", tooltip="next route"),
        Binding("1", "users('1')", "10u", tooltip="10 users"),
        Binding("2", "users('2')", "40u", tooltip="40 users"),
        Binding("3", "users('3')", "100u", tooltip="100 users"),
        Binding("plus,equals_sign", "more(10)", "+10", key_display="+", tooltip="10 more users"),
        Binding("minus", "more(-10)", "-10", key_display="-", tooltip="10 fewer users"),
        Binding("space", "toggle", "start/stop", tooltip="start or stop the focused pane"),
        Binding("tab", "focus_next", "focus", tooltip="focus the next pane"),
        Binding("a", "add_pane", "add", tooltip="add a pane (up to four)"),
        Binding("x", "close_pane", "close", tooltip="close the focused pane"),
        Binding("r", "fresh", "fresh", tooltip="new segment on a fresh server"),
        Binding("e", "export", "export", tooltip="write every segment to runs/<stamp>/"),
        Binding("v", "results", "results", tooltip="finished segments side by side"),
        Binding("question_mark", "help", "help", key_display="?", tooltip="this key map"),
        Binding("q", "quit", "quit", tooltip="stop everything and leave"),
    ]

    def __init__(self, config: AppConfig, make_segment: SegmentMaker = LiveSegment) -> None:
        super().__init__()
        self.config = config
        self._make_segment = make_segment
        self.closed_segments: list[Segment] = []
        self.last_export: Path | None = None
        self._stopping = False

    # ---- layout ------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Grid(id="panes"):
            for number, (route_index, users) in enumerate(self.config.panes[:MAX_PANES]):
                yield self._new_pane(route_index, users, number)
        yield Footer(compact=True)

    def _new_pane(self, route_index: int, users: int, number: int) -> RoutePane:
        return RoutePane(
            self.config.routes, route_index, users, self._segment_for, id=f"pane-{number}"
        )

    def on_mount(self) -> None:
        # Textual's objects are many and long-lived: left to the cyclic collector they make
        # gen2 passes of ~100 ms every few seconds, a frozen UI each time. Freeze them once
        # drawn (the cure loadtui recommends for servers, too).
        self.call_after_refresh(gc.freeze)
        # segment and probe threads share the GIL with the UI: hand it over more often
        sys.setswitchinterval(0.001)
        self.set_interval(REFRESH_S, self._refresh_panes)
        self._layout()
        self.panes()[0].focus()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            # not possible off the main thread (some tests) or on every platform
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self._on_signal)

    def on_resize(self) -> None:
        self._layout()

    def _layout(self) -> None:
        grid = self.query_one("#panes", Grid)
        count = len(self.panes())
        wide = self.size.width >= WIDE_COLUMNS
        grid.styles.grid_size_columns = 2 if wide and count > 1 else 1
        grid.styles.grid_size_rows = (count + 1) // 2 if wide else count

    def panes(self) -> list[RoutePane]:
        return list(self.query(RoutePane))

    def _refresh_panes(self) -> None:
        for pane in self.panes():
            pane.redraw()

    @property
    def pane(self) -> RoutePane:
        """The focused pane (or the first, when focus is elsewhere)."""
        focused = self.focused
        while focused is not None and not isinstance(focused, RoutePane):
            focused = focused.parent  # type: ignore[assignment]
        return focused if isinstance(focused, RoutePane) else self.panes()[0]

    # ---- segments ----------------------------------------------------------------------
    def _segment_for(self, choice: RouteChoice, users: int, listener: Listener) -> Segment:
        spec = SegmentSpec(
            route=choice.route,
            plan=replace(self.config.plan, users=users),
            target=self.config.target,
            threads=self.config.threads,
            engines=self.config.engines,
            cluster=self.config.cluster,
        )
        return self._make_segment(spec, listener)

    def all_segments(self) -> list[Segment]:
        return self.closed_segments + [s for pane in self.panes() for s in pane.segments()]

    def documents(self) -> list[RunDocument]:
        found = []
        for segment in self.all_segments():
            model = segment.model
            if model is not None and model.t0_mono is not None:
                found.append(document.build(model, verdicts.compute(model)))
        return found

    # ---- actions -----------------------------------------------------------------------
    def action_route(self, step: int) -> None:
        self.pane.change(route_step=step)

    def action_users(self, preset: str) -> None:
        self.pane.change(users=USER_PRESETS[preset])

    def action_more(self, delta: int) -> None:
        self.pane.change(users=self.pane.users + delta)

    def action_toggle(self) -> None:
        self.pane.toggle()

    def action_fresh(self) -> None:
        self.pane.start_segment()

    def action_add_pane(self) -> None:
        panes = self.panes()
        if len(panes) >= MAX_PANES:
            self.notify(f"{MAX_PANES} panes at most", severity="warning")
            return
        last = panes[-1]
        number = max(int(p.id.rsplit("-", 1)[1]) for p in panes) + 1  # type: ignore[union-attr]
        pane = self._new_pane(self._unshown_route(last.route_index), last.users, number)
        self.query_one("#panes", Grid).mount(pane)
        self._layout()
        pane.focus()

    def _unshown_route(self, after: int) -> int:
        """The next route after ``after`` that no pane shows (or just the next one)."""
        shown = {pane.route_index for pane in self.panes()}
        count = len(self.config.routes)
        candidates = [(after + step) % count for step in range(1, count + 1)]
        return next((i for i in candidates if i not in shown), candidates[0])

    def action_close_pane(self) -> None:
        panes = self.panes()
        if len(panes) == 1:
            self.notify("the last pane stays; q quits", severity="warning")
            return
        pane = self.pane
        pane.stop_segment()
        self.closed_segments += pane.history
        index = panes.index(pane)
        pane.remove()
        remaining = [p for p in panes if p is not pane]
        remaining[min(index, len(remaining) - 1)].focus()
        self.call_after_refresh(self._layout)

    def action_export(self) -> None:
        written = self.export()
        if written:
            self.notify(f"wrote {len(written)} run files to {written[0].parent}/", timeout=6)

    def export(self, interrupted: list[Segment] | None = None) -> list[Path]:
        """Every segment (finished or running) as a run file under runs/<stamp>/.

        Segments in ``interrupted`` (cut short by a signal) are marked so in their files.
        """
        directory = self.config.runs_dir / runfile.stamp()
        written: list[Path] = []
        try:
            for number, segment in enumerate(self.all_segments(), start=1):
                model = segment.model
                if model is None or model.t0_mono is None:
                    continue
                if interrupted and segment in interrupted:
                    model.finish("interrupted")
                label = (model.variant_key or model.target.route).strip("/").replace("/", "_")
                path = directory / f"{number:02d}-route-{label or 'root'}-{model.plan.users}u.json"
                runfile.write(path, document.build(model, verdicts.compute(model)))
                written.append(path)
        except OSError as exc:
            self.notify(f"export failed: {exc.strerror or exc}", severity="error", timeout=10)
        self.last_export = directory if written else self.last_export
        return written

    def action_results(self) -> None:
        self.push_screen(ResultsScreen(self.documents, self.config.runs_dir))

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.BINDINGS))

    async def action_quit(self) -> None:
        self._stop_everything(interrupted=False)

    def _on_signal(self) -> None:
        self._stop_everything(interrupted=True)

    def _stop_everything(self, interrupted: bool) -> None:
        """Stop every segment (engines, servers) off the UI thread, then leave.

        After a signal, what was measured is written first, marked interrupted.
        """
        if self._stopping:
            return
        self._stopping = True
        self.notify("stopping …", timeout=SHUTDOWN_WAIT_S)
        segments = self.all_segments()
        cut_short = [segment for segment in segments if not segment.ended]
        for segment in segments:
            segment.stop()

        def wait_then_exit() -> None:
            for segment in segments:
                segment.join(SHUTDOWN_WAIT_S)
            if interrupted:
                self.call_from_thread(self.export, cut_short)
            code = exits.INTERRUPTED if interrupted else exits.OK
            if self.config.hard_exit:
                # If the terminal is gone (SIGHUP: the SSH connection dropped), restoring it
                # can block forever; everything is saved and stopped by now, so leave anyway.
                fallback = threading.Timer(EXIT_GRACE_S, os._exit, args=(code,))
                fallback.daemon = True  # a normal exit does not wait for it
                fallback.start()
            self.call_from_thread(self.exit, code)

        threading.Thread(target=wait_then_exit, name="loadtui-shutdown", daemon=True).start()
