"""A comparison as text: a terminal table (coloured words on a terminal unless NO_COLOR) and
Markdown for a pull-request comment or GitHub's job summary. Names from run files are shown
as text (``shown``), and escaped for Markdown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from loadtui.report.compare import CONFIDENCE, LABELS, UNITS, Change
from loadtui.report.tables import markdown_table
from loadtui.safe_text import shown

COLOURS = {"slower": "\x1b[31m", "faster": "\x1b[32m"}
RESET = "\x1b[0m"
HEADER = ("figure", "base", "new", "change", f"{CONFIDENCE:.1%} interval", "")


@dataclass(frozen=True)
class Section:
    """One compared pair: what it is, where its runs came from, its changes and its word."""

    label: str
    base_source: str
    new_source: str
    changes: Sequence[Change]
    word: str
    note: str | None = None  # how the loads differ, when compared anyway
    requests: Sequence[Section] = ()  # each request name of a mix (independent requests)


def _number(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _signed(value: float) -> str:
    text = _number(value)
    return text if text.startswith("-") else f"+{text}"


def _value(change: Change, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{_number(value)} {UNITS[change.figure]}"


def _delta(change: Change) -> str:
    delta, percent = change.delta, change.percent
    if delta is None:
        return "-"
    unit = "pts" if change.figure == "errors" else UNITS[change.figure]
    text = f"{_signed(delta)} {unit}"
    return text if percent is None else f"{text} ({_signed(percent)}%)"


def _interval(change: Change) -> str:
    if change.low is None or change.high is None:
        return "-"
    return f"[{_signed(change.low)}, {_signed(change.high)}]"


def cells(change: Change) -> list[str]:
    return [
        LABELS[change.figure],
        _value(change, change.base),
        _value(change, change.new),
        _delta(change),
        _interval(change),
        change.word,
    ]


def _paint(word: str, colour: bool) -> str:
    return f"{COLOURS[word]}{word}{RESET}" if colour and word in COLOURS else word


def _rows(changes: Sequence[Change], colour: bool, indent: str) -> list[str]:
    rows = [list(HEADER), *(cells(c) for c in changes)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = []
    for row in rows:
        padded = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        lines.append(indent + "  ".join([*padded, _paint(row[-1], colour)]).rstrip())
    return lines


def text(sections: Sequence[Section], colour: bool) -> str:
    """Aligned columns per section, its word last; then each request name's, indented."""
    lines: list[str] = []
    for section in sections:
        if section.note:
            lines.append(shown(section.note))
        lines.append(
            f"{shown(section.label)}: {shown(section.base_source)} -> {shown(section.new_source)}"
        )
        lines += _rows(section.changes, colour, "")
        lines.append(f"overall: {_paint(section.word, colour)}")
        if section.requests:
            lines.append("  each request (as independent requests):")
        for named in section.requests:
            lines.append(f"  {shown(named.label)}: {_paint(named.word, colour)}")
            lines += _rows(named.changes, colour, "    ")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _md(value: str) -> str:
    """Text from a file, safe in a Markdown table cell."""
    escaped = shown(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for char in "\\`*_[]|#!":
        escaped = escaped.replace(char, "\\" + char)
    return escaped


def _md_table(changes: Sequence[Change]) -> list[str]:
    rows = []
    for change in changes:
        row = cells(change)
        row[-1] = f"**{row[-1]}**" if row[-1] != "same" else row[-1]
        rows.append(row)
    return markdown_table(HEADER, rows)


def markdown(sections: Sequence[Section], breached: Sequence[str]) -> str:
    parts = ["### loadtui compare", ""]
    for section in sections:
        parts.append(
            f"**{_md(section.label)}**: {_md(section.base_source)} → "
            f"{_md(section.new_source)}: **{section.word}**"
        )
        parts.append("")
        if section.note:
            parts += [f"> {_md(section.note)}", ""]
        parts += [*_md_table(section.changes), ""]
        for named in section.requests:
            parts += [f"*{_md(named.label)}* (as independent requests): **{named.word}**", ""]
            parts += [*_md_table(named.changes), ""]
    if breached:
        parts += ["**Failed** (exit code 3)", ""]
        parts += [f"- {_md(line)}" for line in breached]
        parts.append("")
    return "\n".join(parts).rstrip("\n") + "\n"
