"""Typed messages from runs (running on their own threads) to the UI."""

from __future__ import annotations

from typing import Literal

from textual.message import Message

from loadtui.tui.widgets.runs import PaneRun

RunEventName = Literal["started", "ended", "failed", "stall"]


class RunEvent(Message):
    """A run started, ended or failed, or its server's loop began or stopped being stalled;
    posted from the run's (or its probe's) thread."""

    def __init__(self, run: PaneRun, event: RunEventName) -> None:
        super().__init__()
        self.run = run
        self.event = event
