"""Line charts as inline SVG drawn in Python: no script, nothing fetched, and they print well.

Axes are linear in whatever units the caller gives; a log axis is the caller mapping its values
(e.g. percentiles to their number of nines) and naming the ticks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 520, 230
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 10, 40
PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
    "#bcbd22",
)

Point = tuple[float, float | None]


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[Point]  # a None value breaks the line
    color: str
    dash: str | None = None  # an SVG stroke-dasharray: "5 3" dashed, "2 4" dotted
    base: Sequence[float] | None = None  # stacked: the area down to these values is filled


@dataclass(frozen=True)
class Axis:
    label: str
    low: float
    high: float
    ticks: Sequence[tuple[float, str]]


@dataclass(frozen=True)
class Chart:
    title: str
    x: Axis
    y: Axis
    series: Sequence[Series]
    bands: Sequence[tuple[float, float]] = ()  # shaded x ranges


def number(value: float) -> str:
    return format(value, ",.10g")


def _nice_step(span: float, count: int) -> float:
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)


def linear_axis(label: str, values: Iterable[float | None], count: int = 5) -> Axis:
    """From 0 to a round number above the largest value, with about ``count`` ticks."""
    high = max((v for v in values if v is not None), default=0.0)
    high = high if high > 0 else 1.0
    step = _nice_step(high, count)
    steps = math.ceil(high / step - 1e-9)
    return Axis(label, 0.0, step * steps, [(i * step, number(i * step)) for i in range(steps + 1)])


def time_axis(label: str, values: Iterable[float | None], count: int = 5) -> Axis:
    """From 0 to the last time given (a 10 s run ends at 10 s, not at a rounder 12.5 s),
    with ticks at round steps within it."""
    high = max((v for v in values if v is not None), default=0.0)
    high = high if high > 0 else 1.0
    step = _nice_step(high, count)
    steps = math.floor(high / step + 1e-9)
    return Axis(label, 0.0, high, [(i * step, number(i * step)) for i in range(steps + 1)])


@dataclass(frozen=True)
class _Frame:
    chart: Chart
    width: int
    height: int

    def sx(self, x: float) -> float:
        axis = self.chart.x
        return LEFT + (x - axis.low) / (axis.high - axis.low) * (self.width - LEFT - RIGHT)

    def sy(self, y: float) -> float:
        axis = self.chart.y
        return (
            self.height
            - BOTTOM
            - (y - axis.low) / (axis.high - axis.low) * (self.height - TOP - BOTTOM)
        )


def _bands(frame: _Frame) -> list[str]:
    x = frame.chart.x
    out = []
    for start, end in frame.chart.bands:
        left, right = frame.sx(max(start, x.low)), frame.sx(min(end, x.high))
        if right > left:
            out.append(
                f'<rect class="band" x="{left:.1f}" y="{TOP}" width="{right - left:.1f}" '
                f'height="{frame.height - TOP - BOTTOM}"/>'
            )
    return out


def _grid(frame: _Frame) -> list[str]:
    chart, bottom, right = frame.chart, frame.height - BOTTOM, frame.width - RIGHT
    out = []
    for value, text in chart.y.ticks:
        y = frame.sy(value)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(
            f'<text class="tick" x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{text}</text>'
        )
    for value, text in chart.x.ticks:
        x = frame.sx(value)
        out.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{bottom}"/>')
        out.append(
            f'<text class="tick" x="{x:.1f}" y="{bottom + 14}" text-anchor="middle">{text}</text>'
        )
    middle_x, middle_y = (LEFT + right) / 2, (TOP + bottom) / 2
    out.append(
        f'<text class="label" x="{middle_x:.1f}" y="{frame.height - 4}" '
        f'text-anchor="middle">{escape(chart.x.label)}</text>'
    )
    out.append(
        f'<text class="label" transform="translate(13 {middle_y:.1f}) rotate(-90)" '
        f'text-anchor="middle">{escape(chart.y.label)}</text>'
    )
    return out


def _segments(frame: _Frame, points: Sequence[Point]) -> list[list[tuple[float, float]]]:
    segments: list[list[tuple[float, float]]] = [[]]
    for x, y in points:
        if y is None:
            segments.append([])
        else:
            segments[-1].append((frame.sx(x), frame.sy(y)))
    return [segment for segment in segments if segment]


def _area(frame: _Frame, series: Series, base: Sequence[float]) -> list[str]:
    """A band of a stacked chart: from the series' values down to ``base``, x by x."""
    top = [(frame.sx(x), frame.sy(y or 0.0)) for x, y in series.points]
    bottom = [(frame.sx(x), frame.sy(b)) for (x, _), b in zip(series.points, base, strict=True)]
    if not top:
        return []
    d = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in [*top, *reversed(bottom)]) + " Z"
    return [f'<path class="area" d="{d}" fill="{series.color}" stroke="{series.color}"/>']


def _series(frame: _Frame, series: Series) -> list[str]:
    if series.base is not None:
        return _area(frame, series, series.base)
    dash = f' stroke-dasharray="{series.dash}"' if series.dash else ""
    out = []
    for segment in _segments(frame, series.points):
        if len(segment) == 1:
            (x, y) = segment[0]
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{series.color}"/>')
            continue
        d = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in segment)
        out.append(f'<path class="line" d="{d}" stroke="{series.color}"{dash}/>')
    return out


def render(chart: Chart, width: int = WIDTH, height: int = HEIGHT) -> str:
    frame = _Frame(chart, width, height)
    title = escape(chart.title)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{title}">',
        f"<title>{title}</title>",
        *_bands(frame),
        *_grid(frame),
    ]
    for series in chart.series:
        parts += _series(frame, series)
    if not any(y is not None for s in chart.series for _, y in s.points):
        parts.append(
            f'<text class="empty" x="{(LEFT + width - RIGHT) / 2:.1f}" '
            f'y="{(TOP + height - BOTTOM) / 2:.1f}" text-anchor="middle">no data</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
