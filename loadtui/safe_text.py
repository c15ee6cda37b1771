"""Strings from users, targets and files, made safe to show: as text, never as terminal
control sequences (an ESC in a route or a culprit's name must not restyle or rewrite the
screen, a right-to-left override must not reorder what a reader sees)."""

from __future__ import annotations

import re

_UNPRINTABLE = re.compile(r"[^\S ]|[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(text: str) -> str:
    """``text`` with every control or invisible formatting character written as an escape."""
    return _UNPRINTABLE.sub(_escape, text)
