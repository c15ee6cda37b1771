"""The HTML report: one self-contained page that works offline and prints.

Inline CSS and SVG only: no script, no web fonts, nothing fetched (its Content-Security-Policy
tells the browser so). Percentile spectra are decoded from each run's HDR histogram here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from importlib import resources
from pathlib import Path

from loadtui import __version__
from loadtui.engine import hdr
from loadtui.engine.hdr import NINES, percentile_of_nines, spectrum
from loadtui.formats import ms
from loadtui.report import svg, tables
from loadtui.report.runs import Run
from loadtui.run import holders
from loadtui.run.atomic import write_text_atomic
from loadtui.run.rundoc import RunDocument, ThreadsSecond, TimelineEntry
from loadtui.safe_text import shown

Reader = Callable[[TimelineEntry], float | None]
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
BLUE, RED, GREEN, ORANGE, GREY = (*svg.PALETTE[:4], svg.PALETTE[8])
SPECTRUM, RUN_CHART = (880, 360), (400, 220)  # drawing sizes (px), near how they show


@dataclass(frozen=True)
class Line:
    """One line of a per-run chart: how to read it from the document."""

    label: str
    points: Callable[[RunDocument], list[svg.Point]]
    color: str
    dash: str | None = None  # an SVG stroke-dasharray


def _each_second(read: Reader) -> Callable[[RunDocument], list[svg.Point]]:
    return lambda doc: [(entry.t, read(entry)) for entry in doc.timeline]


def _server(name: str, scale: float = 1.0) -> Reader:
    def read(entry: TimelineEntry) -> float | None:
        value = getattr(entry.server, name)
        return None if value is None else value * scale

    return read


def _drain(doc: RunDocument) -> list[svg.Point]:
    return [(point.t, point.pending) for point in doc.server.drain]


def _errors_per_second(entry: TimelineEntry) -> float:
    return entry.errors / entry.length_s


# (title, y axis, lines): each run's charts, stalls shaded on all of them
TIME_CHARTS: tuple[tuple[str, str, tuple[Line, ...]], ...] = (
    (
        "Throughput",
        "per second",
        (
            Line("req/s", _each_second(lambda e: e.rps), BLUE),
            Line("errors/s", _each_second(_errors_per_second), RED),
        ),
    ),
    (
        "Latency",
        "ms",
        (
            Line("p50", _each_second(lambda e: e.p50_ms), BLUE),
            Line("p99", _each_second(lambda e: e.p99_ms), RED),
        ),
    ),
    (
        "Thread pool",
        "threads",
        (
            # busy is drawn last, over the others: at 0 it would otherwise hide under waiting,
            # which is dotted so that where the two meet both still show
            Line("capacity", _each_second(_server("threadpool_capacity")), GREY, dash="5 3"),
            Line("waiting for a thread", _each_second(_server("threadpool_waiting")), RED, "2 4"),
            Line("busy", _each_second(_server("threadpool_busy")), BLUE),
        ),
    ),
    (
        "Background tasks pending",
        "tasks",
        (
            Line(
                "during the load", _each_second(lambda e: e.server.background_pending_total), ORANGE
            ),
            Line("draining after it", _drain, GREEN, dash="5 3"),
        ),
    ),
    (
        "Event loop lag",
        "ms",
        (Line("worst lag per second", _each_second(_server("loop_lag_max_s", 1000.0)), RED),),
    ),
)


HOLDERS_DRAWN = 5  # functions of their own in the holders chart; the rest are added up


def _loop_busy(doc: RunDocument) -> list[svg.Point]:
    return [(s.t, None if s.loop_busy is None else s.loop_busy * 100) for s in doc.server.threads]


def _holder_series(doc: RunDocument) -> list[svg.Series]:
    """The pool's threads by the function holding them, stacked, second by second."""
    seconds = doc.server.threads
    ranked = [s.holder for s in holders.shares(seconds, "pool")]
    drawn = ranked[:HOLDERS_DRAWN]
    names = [holders.named(h) for h in drawn]

    def held(second: ThreadsSecond, index: int | None) -> float:
        mine = [h for h in second.pool if (holders.named(h) in names) == (index is not None)]
        if index is not None:
            mine = [h for h in mine if holders.named(h) == names[index]]
        return sum(h.threads for h in mine)

    series: list[svg.Series] = []
    base = [0.0] * len(seconds)
    for index, label in [*enumerate(names), (None, "other functions")]:
        values = [held(second, index) for second in seconds]
        if not any(values):
            continue
        top = [b + v for b, v in zip(base, values, strict=True)]
        color = svg.PALETTE[(index if index is not None else 8) % len(svg.PALETTE)]
        points = [(second.t, y) for second, y in zip(seconds, top, strict=True)]
        series.append(svg.Series(shown(label), points, color, base=base))
        base = top
    return series


def _swatch(series: svg.Series) -> str:
    if series.dash is None:
        return f"background:{series.color}"
    style = "dotted" if series.dash.startswith("2 ") else "dashed"
    return f"height:0;border-top:3px {style} {series.color}"


def _legend(series: Sequence[svg.Series], shaded: bool) -> str:
    items = [
        f'<span><i class="swatch" style="{_swatch(s)}"></i>{escape(s.label)}</span>' for s in series
    ]
    if shaded:
        items.append('<span><i class="swatch band"></i>event loop stalled</span>')
    return f'<span class="legend">{"".join(items)}</span>'


def _figure(chart: svg.Chart, size: tuple[int, int]) -> str:
    """The chart drawn at about the size it shows at, so that its text reads at ~11 px."""
    legend = _legend(chart.series, bool(chart.bands))
    return (
        f"<figure><figcaption>{escape(chart.title)} {legend}</figcaption>"
        f"{svg.render(chart, *size)}</figure>"
    )


def _stall_bands(doc: RunDocument) -> list[tuple[float, float]]:
    start = doc.started_epoch
    if start is None:
        return []
    return [
        (
            stall.started_at.timestamp() - start,
            stall.started_at.timestamp() - start + stall.duration_s,
        )
        for stall in doc.server.blocking_stalls
    ]


def _with_data(doc: RunDocument, lines: Sequence[Line]) -> list[svg.Series]:
    found = [(line, line.points(doc)) for line in lines]
    return [
        svg.Series(line.label, points, line.color, line.dash)
        for line, points in found
        if any(y is not None for _, y in points)
    ]


def _values(series: Sequence[svg.Series], axis: int) -> list[float | None]:
    return [point[axis] for s in series for point in s.points]


def _run_charts(doc: RunDocument) -> list[str]:
    """The run's charts, on one time axis, with the event loop's stalls shaded; beside the
    pool's, who held its threads and how busy the loop was (from the stack samplers)."""
    drawn = [(title, y_label, _with_data(doc, lines)) for title, y_label, lines in TIME_CHARTS]
    held = _holder_series(doc)
    if held:
        drawn.insert(3, ("Who held the pool's threads", "threads", held))
    busy = _with_data(doc, [Line("share of each second running code", _loop_busy, RED)])
    if busy:
        drawn.append(("Event loop busy", "%", busy))
    x_axis = svg.time_axis("seconds", [x for *_, series in drawn for x in _values(series, 0)])
    bands = _stall_bands(doc)
    return [
        _figure(
            svg.Chart(title, x_axis, svg.linear_axis(y_label, _values(series, 1)), series, bands),
            RUN_CHART,
        )
        for title, y_label, series in drawn
    ]


def _spectrum(runs: Sequence[Run]) -> str:
    return spectrum_section([(run.label, run.doc) for run in runs])


def spectrum_section(labelled: Sequence[tuple[str, RunDocument]]) -> str:
    """The runs' percentile spectra overlaid, each line named by its label."""
    palette = svg.PALETTE
    series = [
        svg.Series(
            label,
            spectrum(hdr.decode(doc.histogram.data)),
            palette[i % len(palette)],
            dash="5 3" if i >= len(palette) else None,
        )
        for i, (label, doc) in enumerate(labelled)
    ]
    ticks = [(n, f"{percentile_of_nines(n):g}%") for n in range(NINES + 1)]
    x_axis = svg.Axis("percentile (log scale of 1/(1-p))", 0.0, float(NINES), ticks)
    y_axis = svg.linear_axis("latency (ms)", _values(series, 1))
    chart = svg.Chart("Latency by percentile", x_axis, y_axis, series)
    return _section("Latency by percentile", _figure(chart, SPECTRUM), "spectrum")


def _table(docs: Sequence[RunDocument]) -> str:
    def cell(tag: str, column: str, text: str) -> str:
        css = "" if column in tables.TEXT_COLUMNS else ' class="num"'
        return f"<{tag}{css}>{escape(text)}</{tag}>"

    head = "".join(cell("th", c, c) for c in tables.TABLE_COLUMNS)
    body = "".join(
        "<tr>"
        + "".join(cell("td", c, v) for c, v in zip(tables.TABLE_COLUMNS, row, strict=True))
        + "</tr>"
        for row in tables.table_rows(docs)
    )
    return _section(
        "Comparison",
        f'<table class="runs"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
        f'<p class="quiet">{escape(tables.NOTE)}</p>{_legend_list(docs)}',
    )


def _gate(docs: Sequence[RunDocument]) -> str:
    """The thresholds and --fail-on each run was judged by; "" when none was."""
    rows = [(doc, row) for doc in docs for row in tables.gate_rows(doc)]
    if not rows:
        return ""
    head = "".join(f"<th>{escape(c)}</th>" for c in tables.GATE_TABLE_COLUMNS)
    body = "".join(
        f'<tr class="{"passed" if row[-1] == "passed" else "breached"}">'
        f"<td>{escape(tables.route_label(doc))} @ {escape(tables.load_label(doc))}</td>"
        + "".join(f"<td>{escape(cell)}</td>" for cell in row)
        + "</tr>"
        for doc, row in rows
    )
    return _section(
        "Gate", f'<table class="runs"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def _legend_list(docs: Sequence[RunDocument]) -> str:
    """What each demo route key stands for: its path and handler / inner / background."""
    items = "".join(
        f"<dt>route {escape(key)}</dt><dd><code>{escape(path)}</code> {escape(pattern)}</dd>"
        for key, path, pattern in tables.legend(docs)
    )
    return f'<dl class="routes">{items}</dl>' if items else ""


def _verdict_list(doc: RunDocument) -> str:
    if not doc.verdicts:
        return '<p class="quiet">Nothing stood out.</p>'
    items = "".join(
        f'<li><span class="severity {v.severity}">{v.severity}</span> '
        f"<code>{escape(shown(v.code))}</code> {escape(shown(v.message))}</li>"
        for v in doc.verdicts
    )
    return f'<ul class="verdicts">{items}</ul>'


def _section(title: str, body: str, css_class: str = "section") -> str:
    return f'<section class="{css_class}"><h2>{escape(title)}</h2>{body}</section>'


def _run_verdicts(run: Run) -> str:
    heading = f'<h3>{escape(run.label)} <span class="quiet">{escape(shown(run.source))}</span></h3>'
    return heading + _verdict_list(run.doc)


def _about(run: Run) -> str:
    doc = run.doc
    facts = [
        f"<code>{escape(shown(doc.target.route))}</code>",
        escape(shown(doc.target.url)) + (" (spawned)" if doc.target.spawned else ""),
        escape(tables.describe_load(doc)),
        f"started {doc.started_at.isoformat(timespec='seconds') if doc.started_at else 'unknown'}",
        f"from {escape(shown(run.source))}",
    ]
    if doc.state != "finished":
        facts.append(f"<strong>{doc.state}</strong>")
    return f'<p class="meta">{" · ".join(facts)}</p>'


def _requests_table(doc: RunDocument) -> str:
    """Each named request of a mix, when the run had one."""
    if not doc.requests:
        return ""

    def cell(tag: str, index: int, text: str) -> str:
        css = "" if index == 0 else ' class="num"'
        return f"<{tag}{css}>{escape(text)}</{tag}>"

    head = "".join(cell("th", i, c) for i, c in enumerate(tables.REQUEST_COLUMNS))
    body = "".join(
        "<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>"
        for row in tables.request_rows(doc)
    )
    return (
        f'<table class="runs requests"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def _timing(doc: RunDocument) -> str:
    """The time to the first byte and the streams, when the run recorded them."""
    lines = []
    first = doc.summary.first_byte_ms
    if first is not None:
        figures = ", ".join(
            f"{name} {ms(value)}"
            for name, value in (("p50", first.p50), ("p90", first.p90), ("p99", first.p99))
        )
        lines.append(f"first byte {figures}, max {ms(first.max)} (ms unless marked s)")
    if doc.summary.stream is not None:
        lines.append(f"streams {tables.stream_figures(doc.summary.stream)}")
    return "".join(f'<p class="meta">{escape(line)}</p>' for line in lines)


def _run_timeline(run: Run) -> str:
    return (
        f'<article class="run"><h3>{escape(run.label)}</h3>{_about(run)}{_timing(run.doc)}'
        f"{_requests_table(run.doc)}"
        f'<div class="charts">{"".join(_run_charts(run.doc))}</div></article>'
    )


def page_head(title: str) -> list[str]:
    """A self-contained page's lines up to its ``<body>``: the CSP, no icon fetched, the report's
    style sheet inline. ``title`` is HTML already (escaped)."""
    css = resources.files("loadtui.report").joinpath("assets/report.css").read_text("utf-8")
    return [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<link rel="icon" href="data:,">',
        f"<title>{title}</title><style>{css}</style></head><body>",
    ]


def render(runs: Sequence[Run], generated: str) -> str:
    count = f"{len(runs)} run{'s' if len(runs) != 1 else ''}"
    return "\n".join(
        [
            *page_head(f"loadtui report: {count}"),
            "<header><h1>loadtui report</h1>",
            f'<p class="meta">{count} · made {escape(generated)} · loadtui {__version__}</p>',
            "</header><main>",
            _table([run.doc for run in runs]),
            _section("Verdicts", "".join(map(_run_verdicts, runs))),
            _gate([run.doc for run in runs]),
            _spectrum(runs),
            _section("Each run over time", "".join(map(_run_timeline, runs))),
            "</main></body></html>",
        ]
    )


def write_html(path: Path, runs: Sequence[Run]) -> None:
    generated = datetime.now().astimezone().isoformat(timespec="seconds")
    write_text_atomic(path, render(runs, generated))
