"""The comparison as one self-contained HTML page: each pair's table of changes and both runs'
percentile spectra overlaid. Inline CSS and SVG only, as the report's page (no script)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from pathlib import Path

from loadtui import __version__
from loadtui.report.compare_input import Pair
from loadtui.report.compare_out import HEADER, Section, cells
from loadtui.report.html import page_head, spectrum_section
from loadtui.run.atomic import write_text_atomic
from loadtui.safe_text import shown


def _table(section: Section) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in HEADER)
    rows = []
    for change in section.changes:
        row = cells(change)
        tds = "".join(f'<td class="num">{escape(cell)}</td>' for cell in row[1:-1])
        rows.append(
            f"<tr><td>{escape(row[0])}</td>{tds}"
            f'<td class="word {escape(row[-1])}">{escape(row[-1])}</td></tr>'
        )
    return (
        f'<table class="runs"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _pair(section: Section, pair: Pair) -> str:
    note = (
        f'<p class="meta"><strong>{escape(shown(section.note))}</strong></p>'
        if section.note
        else ""
    )
    spectra = spectrum_section(
        [
            (f"base: {shown(pair.base.source)}", pair.base.doc),
            (f"new: {shown(pair.new.source)}", pair.new.doc),
        ]
    )
    named = "".join(
        f"<h3>{escape(shown(n.label))} (as independent requests): {escape(n.word)}</h3>{_table(n)}"
        for n in section.requests
    )
    return (
        f'<article class="run"><h2>{escape(shown(section.label))}: '
        f"{escape(section.word)}</h2>{note}"
        f'<p class="meta">base {escape(shown(section.base_source))} · '
        f"new {escape(shown(section.new_source))}</p>{_table(section)}{named}{spectra}</article>"
    )


def render(sections: Sequence[Section], pairs: Sequence[Pair], generated: str) -> str:
    body = "".join(_pair(s, p) for s, p in zip(sections, pairs, strict=True))
    return "\n".join(
        [
            *page_head("loadtui compare"),
            "<header><h1>loadtui compare</h1>",
            f'<p class="meta">made {escape(generated)} · loadtui {__version__}</p>',
            f"</header><main>{body}</main></body></html>",
        ]
    )


def write_html(path: Path, sections: Sequence[Section], pairs: Sequence[Pair]) -> None:
    generated = datetime.now().astimezone().isoformat(timespec="seconds")
    write_text_atomic(path, render(sections, pairs, generated))
