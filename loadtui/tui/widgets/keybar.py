"""The key bar at the bottom of a screen: its keys, most needed first, with the two a stranger
needs before any other (`? help`, `q quit`) pinned to the right edge so that no width hides them.

A plain line of text, drawn once per width. (Textual's Footer rebuilds a widget per key on every
focus change: under load that cost more than everything else a key press does.) Tests check that
every key shown here is bound.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widget import Widget

KeyItem = tuple[str, str]  # (the keys as shown, what they do)
PINNED_KEYS: tuple[KeyItem, ...] = (("?", "help"), ("q", "quit"))  # bound on every screen
KEY_STYLE = "bold"


def _item(item: KeyItem) -> Text:
    keys, does = item
    return Text.assemble((keys, KEY_STYLE), f" {does}")


def key_line(items: Sequence[KeyItem], pinned: Sequence[KeyItem], width: int) -> Text:
    """The items that fit in ``width``, in order; the pinned ones always, at the right edge."""
    right = Text("  ").join(_item(item) for item in pinned)
    room = width - len(right) - 2
    left = Text()
    for item in items:
        text = _item(item)
        if len(left) + len(text) + 2 * bool(left) > room:
            break
        if left:
            left.append("  ")
        left.append_text(text)
    left.pad_right(max(0, width - len(left) - len(right)))
    return Text.assemble(left, right)


class KeyBar(Widget):
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        padding: 0 1;
        background: $footer-background;
        color: $footer-foreground;
    }
    """

    def __init__(self, items: Sequence[KeyItem], pinned: Sequence[KeyItem]) -> None:
        super().__init__()
        self.items = list(items)
        self.pinned = list(pinned)

    def render(self) -> Text:
        return key_line(self.items, self.pinned, self.content_size.width)
