"""Screens over the panes: the key map (`?`) and the results of finished segments (`v`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Static

from loadtui.report import tables
from loadtui.rundoc import RunDocument
from loadtui.runfile import RunFileError, load
from loadtui.text import shown


class HelpScreen(ModalScreen[None]):
    """Every key, from the app's own bindings (so the list cannot drift from the code)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def __init__(self, bindings: Sequence[BindingType]) -> None:
        super().__init__()
        self.bindings = [b for b in bindings if isinstance(b, Binding)]

    def compose(self) -> ComposeResult:
        rows = [f"{b.key_display or b.key:>7}  {b.tooltip or b.description}" for b in self.bindings]
        text = "loadtui keys\n\n" + "\n".join(rows) + "\n\nescape closes this help"
        yield Static(text, id="help", markup=False)


class ResultsScreen(Screen[None]):
    """Finished segments side by side; `o` adds the run files found under runs/."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,v", "app.pop_screen", "Back"),
        Binding("o", "open_runs", "Load runs/"),
    ]

    def __init__(self, documents: Callable[[], list[RunDocument]], runs_dir: Path) -> None:
        super().__init__()
        self.documents = documents
        self.runs_dir = runs_dir
        self.loaded: list[tuple[RunDocument, str]] = []  # (run, the file it came from)

    def compose(self) -> ComposeResult:
        yield Static("results: finished segments (o loads runs/)", id="results-title")
        yield DataTable(id="results", zebra_stripes=True, cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*tables.COLUMNS, "verdicts", "source")
        self.fill()

    def fill(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        live = [(doc, "this session") for doc in self.documents()]
        for doc, source in live + self.loaded:
            table.add_row(*tables.comparison_row(doc), tables.verdict_cell(doc), shown(source))

    def action_open_runs(self) -> None:
        paths = sorted(self.runs_dir.rglob("*.json")) if self.runs_dir.is_dir() else []
        self.loaded, bad = [], 0
        for path in paths:
            try:
                self.loaded.append((load(path), str(path)))
            except RunFileError:
                bad += 1
        self.fill()
        skipped = f", {bad} unreadable skipped" if bad else ""
        self.notify(f"loaded {len(self.loaded)} run files from {self.runs_dir}/{skipped}")
