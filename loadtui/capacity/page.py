"""A capacity search as one self-contained HTML page: latency against throughput, one point a
step, the knee marked (a band from the highest rate that held to the first that broke), the
steps' table and the verdicts at the break. Inline SVG and CSS: nothing fetched, no script."""

from __future__ import annotations

from html import escape

from loadtui import __version__
from loadtui.capacity.capdoc import CapacityDocument, CapacityStep
from loadtui.capacity.text import COLUMNS, limit, rate, step_row
from loadtui.report import svg
from loadtui.report.html import page_head
from loadtui.safe_text import shown

SIZE = (720, 300)
KNEE = "the band: the knee, from the highest rate that held to the first that broke"


def _curve(steps: list[CapacityStep], name: str) -> list[svg.Point]:
    return [(s.rate_rps, getattr(s, name)) for s in steps]


def _knee(doc: CapacityDocument) -> list[tuple[float, float]]:
    """From the held rate to the break (a sliver at the one there is)."""
    ends = [x for x in (doc.held_rps, doc.broke_at_rps) if x is not None]
    if not ends:
        return []
    low, high = min(ends), max(ends)
    return [(low, high)] if high > low else [(low * 0.99, low * 1.01)]


def _figure(chart: svg.Chart) -> str:
    legend = " ".join(
        f'<span style="color:{s.color}">&#9632; {escape(s.label)}</span>' for s in chart.series
    )
    return (
        f"<figure><figcaption>{escape(chart.title)} {legend}</figcaption>"
        f"{svg.render(chart, *SIZE)}</figure>"
    )


def _charts(doc: CapacityDocument) -> str:
    """Latency and the answers against the rate asked, over the steady steps (the quick ramp's
    when there are none)."""
    steady = [s for s in doc.steps if s.phase == "steady"] or list(doc.steps)
    steps = sorted(steady, key=lambda s: (s.rate_rps, s.number))
    offered = [s.rate_rps for s in steps]
    latency = [
        svg.Series("p99", _curve(steps, "p99_ms"), svg.PALETTE[1]),
        svg.Series("p50", _curve(steps, "p50_ms"), svg.PALETTE[0]),
    ]
    for index, slo in enumerate(s for s in doc.slos if s.unit == "ms" and s.request is None):
        line = [(0.0, slo.limit), (max(offered, default=1.0), slo.limit)]
        latency.append(svg.Series(f"SLO {slo.text}", line, svg.PALETTE[2 + index], dash="5 3"))
    answered = [
        svg.Series("achieved", _curve(steps, "achieved_rps"), svg.PALETTE[0]),
        svg.Series("asked", [(x, x) for x in offered], svg.PALETTE[8], dash="2 4"),
    ]
    x = svg.linear_axis("asked req/s", offered)
    ys = [y for one in latency for _, y in one.points]
    return _figure(
        svg.Chart(f"latency against throughput ({KNEE})", x, svg.linear_axis("ms", ys),
                  latency, bands=_knee(doc))
    ) + _figure(
        svg.Chart("answered against asked", x, svg.linear_axis("req/s", offered), answered,
                  bands=_knee(doc))
    )  # fmt: skip


def _table(doc: CapacityDocument) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in COLUMNS)
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in step_row(step)) + "</tr>"
        for step in doc.steps
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _result(doc: CapacityDocument) -> str:
    lines = [
        f"held: {rate(doc.held_rps)} req/s",
        f"broke at: {rate(doc.broke_at_rps)} req/s",
        f"limited by: {limit(doc)}",
    ]
    found = "".join(f'<p class="meta">{escape(line)}</p>' for line in lines)
    verdicts = "".join(
        f"<li><b>{escape(v.code)}</b> [{escape(v.severity)}]: {escape(shown(v.message))}</li>"
        for v in doc.explanation
    )
    return found + (f"<h3>at the break</h3><ul>{verdicts}</ul>" if verdicts else "")


def render(doc: CapacityDocument) -> str:
    slos = ", ".join([*(slo.text for slo in doc.slos), "errors<1%"])
    title = shown(f"capacity of {doc.route} at {doc.target}")
    return "\n".join(
        [
            *page_head(f"loadtui {escape(title)}"),
            f"<header><h1>loadtui {escape(title)}</h1>",
            f'<p class="meta">within {escape(slos)} · {doc.finished_at.isoformat()} · '
            f"loadtui {__version__}</p></header><main>",
            f'<section class="section"><h2>Result</h2>{_result(doc)}</section>',
            f'<section class="section"><h2>The curve</h2>{_charts(doc)}</section>',
            f'<section class="section"><h2>Steps</h2>{_table(doc)}</section>',
            "</main></body></html>",
        ]
    )
