"""Screens over the panes: the key map (`?`), every run's results (`v`), a pane's verdicts
in full (`d`), and the question before leaving with work not yet saved (`q`).

Every string that came from a user, a target or a file is shown as text (never as markup).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from loadtui.formats import plural
from loadtui.report import tables
from loadtui.run.model import RunModel
from loadtui.run.rundoc import RunDocument, Verdict
from loadtui.run.runfile import RunFileError, load
from loadtui.run.verdicts import compute
from loadtui.safe_text import shown
from loadtui.tui.widgets import render
from loadtui.tui.widgets.keybar import PINNED_KEYS, KeyBar

LIVE_REFRESH_S = 1.0


class HelpScreen(ModalScreen[None]):
    """Every key, from the bindings themselves (so the list cannot drift from the code)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark", "dismiss", "close")]
    CLOSING = "escape or ? closes this help"

    def __init__(self, bindings: Sequence[BindingType]) -> None:
        super().__init__()
        self.bindings = [b for b in bindings if isinstance(b, Binding)]

    def compose(self) -> ComposeResult:
        rows = [f"{b.key_display or b.key:>7}  {b.tooltip or b.description}" for b in self.bindings]
        with VerticalScroll(id="help") as box:
            box.border_title = f"loadtui keys · {self.CLOSING}"
            yield Static("\n".join(rows), markup=False)


@dataclass(frozen=True)
class ResultRow:
    doc: RunDocument
    source: str  # "this session", or the file it came from
    running: bool = False  # still measuring: its figures change


def _state(row: ResultRow) -> str:
    return "running" if row.running else row.doc.state


def results_lines(rows: Sequence[ResultRow], width: int) -> list[Text]:
    """A line of figures per run, then what it loaded, its verdicts and where it came
    from, wrapped: nothing is cut at any width."""
    columns = ("state", *tables.COLUMNS)
    cells = [[_state(row), *tables.comparison_row(row.doc)] for row in rows]
    for cell in cells:
        cell[1] = cell[1] if len(cell[1]) <= 12 else cell[1][:11] + "…"  # whole on its own line
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    gap = " " if sum(widths) + 2 * len(widths) > width else "  "

    def line(values: Sequence[str]) -> str:
        return gap.join(
            value.ljust(w) if column in ("state", *tables.TEXT_COLUMNS) else value.rjust(w)
            for column, value, w in zip(columns, values, widths, strict=True)
        ).rstrip()

    out = [Text(line(columns), style=render.LABEL)]
    for row, values in zip(rows, cells, strict=True):
        out.append(Text(line(values), style="" if not row.running else render.WARN))
        target = row.doc.target
        what = shown(target.route) + (f"  {shown(target.pattern)}" if target.pattern else "")
        details = [
            f"route {tables.route_label(row.doc)} = {what}",
            f"verdicts: {tables.verdict_cell(row.doc)}",
            f"from {shown(row.source)}",
        ]
        for detail in details:
            for wrapped in textwrap.wrap(detail, max(20, width - 4), subsequent_indent="  "):
                out.append(Text(f"    {wrapped}", style=render.DIM))
    return out


class ResultsScreen(Screen[None]):
    """Every run since loadtui opened side by side (running ones marked, updated each second);
    `o` adds the run files found under runs/."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,v", "app.pop_screen", "back"),
        Binding("o", "open_runs", "load runs/"),
    ]

    def __init__(self, rows: Callable[[], list[ResultRow]], runs_dir: Path) -> None:
        super().__init__()
        self.rows = rows
        self.runs_dir = runs_dir
        self.loaded: list[ResultRow] = []
        self.shown_rows: list[ResultRow] = []

    def compose(self) -> ComposeResult:
        yield Static(id="results-title")
        with VerticalScroll(id="results-box"):
            yield Static(id="results")
        yield KeyBar((("escape", "back"), ("o", f"load {self.runs_dir}/")), PINNED_KEYS)

    def on_mount(self) -> None:
        self.fill()
        self.set_interval(LIVE_REFRESH_S, self._refresh_live)

    def on_resize(self) -> None:
        self.fill(again=True)

    def _refresh_live(self) -> None:
        if any(row.running for row in self.shown_rows):
            self.fill()

    def fill(self, again: bool = False) -> None:
        if not again:
            self.shown_rows = self.rows() + self.loaded
        rows = self.shown_rows
        running = sum(row.running for row in rows)
        live = [row for row in rows if row.source == "this session"]
        title = f"results: {len(live) - running} finished runs"
        if running:
            title += f", {running} running (their figures still change, updated each second)"
        if self.loaded:
            title += f", {len(self.loaded)} run files from {self.runs_dir}/"
        self.query_one("#results-title", Static).update(Text(shown(title)))
        width = max(40, self.size.width - 2)
        lines = results_lines(rows, width) if rows else [Text("nothing measured yet")]
        self.query_one("#results", Static).update(Group(*lines))

    def action_open_runs(self) -> None:
        paths = sorted(self.runs_dir.rglob("*.json")) if self.runs_dir.is_dir() else []
        self.loaded, bad = [], 0
        for path in paths:
            try:
                self.loaded.append(ResultRow(load(path), str(path)))
            except RunFileError:
                bad += 1
        self.fill()
        skipped = f", {bad} unreadable skipped" if bad else ""
        message = shown(f"loaded {len(self.loaded)} run files from {self.runs_dir}/{skipped}")
        self.notify(message, markup=False)


class VerdictScreen(ModalScreen[None]):
    """The focused pane's verdicts, whole and wrapped (a pane may have room for one line each)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,d", "dismiss", "close")]

    def __init__(self, describe: Callable[[], str], model: Callable[[], RunModel | None]) -> None:
        super().__init__()
        self.describe = describe
        self.model = model

    def compose(self) -> ComposeResult:
        with Vertical(id="verdicts-box"):
            yield Static(id="verdicts-title")
            with VerticalScroll():
                yield Static(id="verdicts")
            yield KeyBar((("escape", "back"),), PINNED_KEYS)

    def on_mount(self) -> None:
        self.fill()
        self.set_interval(LIVE_REFRESH_S, self.fill)

    def fill(self) -> None:
        model = self.model()
        found: list[Verdict] = compute(model) if model is not None else []
        title = Text(shown(f"verdicts of {self.describe().strip()}"), style=render.LABEL)
        self.query_one("#verdicts-title", Static).update(title)
        lines: list[Text] = []
        for verdict in found:
            mark = render.SEVERITY_MARK[verdict.severity]
            style = render.SEVERITY_STYLE[verdict.severity]
            lines.append(Text(shown(f"{mark} {verdict.code}"), style=f"{style} bold"))
            lines.append(Text(shown(verdict.message), style=style))
            lines.append(Text(""))
        if not lines:
            lines.append(Text("no verdicts yet: nothing stood out"))
        held = render.holder_lines(model.threads()) if model is not None else []
        if held:
            lines += [Text(""), Text("who held the server's threads", style=render.LABEL), *held]
        self.query_one("#verdicts", Static).update(Group(*lines))


QuitChoice = Literal["export", "discard"]


class QuitScreen(ModalScreen[QuitChoice | None]):
    """Asked when `q` would lose runs not yet exported; `q` again leaves without saving."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "choose('export')", "export and quit"),
        Binding("q", "choose('discard')", "quit without saving"),
        Binding("escape,c", "choose(None)", "cancel"),
    ]

    def __init__(self, unsaved: int, runs_dir: Path) -> None:
        super().__init__()
        self.unsaved = unsaved
        self.runs_dir = runs_dir

    def compose(self) -> ComposeResult:
        runs = plural(self.unsaved, "run")
        choices = [
            ("e", shown(f"export to {self.runs_dir}/<stamp>/ and quit")),
            ("q", "quit without saving"),
            ("escape", "stay"),
        ]
        lines = [Text(f"{runs} measured what no run file holds yet."), Text("")]
        lines += [Text.assemble((f"{key:>6}", render.LABEL), f"  {does}") for key, does in choices]
        with Vertical(id="quit"):
            yield Static(Text("\n").join(lines))

    def action_choose(self, choice: QuitChoice | None) -> None:
        self.dismiss(choice)
