"""Typed messages from segments (running on their own threads) to the UI."""

from __future__ import annotations

from typing import Literal

from textual.message import Message

from loadtui.tui.widgets.segments import Segment

SegmentEventName = Literal["started", "ended", "failed"]


class SegmentEvent(Message):
    """A segment started, ended or failed; posted from the segment's thread."""

    def __init__(self, segment: Segment, event: SegmentEventName) -> None:
        super().__init__()
        self.segment = segment
        self.event = event
