"""Report files for other tools: per-run statistics as CSV (the columns of Locust's stats CSV)
and one HdrHistogram interval log (.hlog) per run, readable by HdrHistogram's tools."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from hdrh.log import HistogramLogWriter

from loadtui.engine import hdr
from loadtui.engine.hdr import LOCUST_PERCENTILES, values_ms
from loadtui.report import tables
from loadtui.report.runs import Run
from loadtui.run.atomic import write_text_atomic
from loadtui.run.rundoc import RequestStats
from loadtui.safe_text import shown

AGGREGATED = "Aggregated"  # as Locust names a run's total row
CSV_COLUMNS = (
    "Route",
    "Load",
    "Name",
    "Duration (s)",
    "Path",
    "Handler / Inner / Background",
    "Source",
    "Request Count",
    "Failure Count",
    "Requests/s",
    "Average Response Time",
    "Min Response Time",
    "Max Response Time",
    *(f"{p:g}%" for p in LOCUST_PERCENTILES),
    "Stalls",
    "Longest Stall (s)",
    "Background Tasks Pending",
)
US_PER_MS = 1000.0  # the logs' Interval_Max column is in ms, as HdrHistogram's tools expect
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    """A CSV cell; text that a spreadsheet would run as a formula starts with a quote."""
    if value is None:
        return ""
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    return str(value)


def _csv_rows(run: Run) -> list[list[str]]:
    """The run's row, then one for each named request of its mix."""
    return [_csv_row(run), *(_request_row(run, stats) for stats in run.doc.requests)]


def _request_row(run: Run, stats: RequestStats) -> list[str]:
    doc, latency = run.doc, stats.latency_ms
    at = values_ms(hdr.decode(stats.histogram.data), LOCUST_PERCENTILES)
    cells: list[object] = [
        tables.route_label(doc),
        tables.load_label(doc),
        shown(stats.name),
        doc.summary.duration_s,
        shown(stats.path),
        "",
        shown(run.source),
        stats.requests,
        stats.errors,
        stats.rps,
        latency.mean,
        latency.min,
        latency.max,
        *(at.get(p) for p in LOCUST_PERCENTILES),
        None,
        None,
        None,
    ]
    return [_cell(cell) for cell in cells]


def _csv_row(run: Run) -> list[str]:
    doc = run.doc
    summary, latency = doc.summary, doc.summary.latency_ms
    at = values_ms(hdr.decode(doc.histogram.data), LOCUST_PERCENTILES)
    cells: list[object] = [
        tables.route_label(doc),
        tables.load_label(doc),
        AGGREGATED,
        summary.duration_s,
        shown(doc.target.route),
        shown(doc.target.pattern or ""),
        shown(run.source),
        summary.requests,
        summary.errors,
        summary.rps,
        latency.mean,
        latency.min,
        latency.max,
        *(at.get(p) for p in LOCUST_PERCENTILES),
        len(doc.server.blocking_stalls),
        doc.server.longest_stall_s,
        doc.server.background_tasks_pending_end,
    ]
    return [_cell(cell) for cell in cells]


def csv_text(runs: Sequence[Run]) -> str:
    """One row per run; latency in ms; an empty cell where nothing was measured."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(row for run in runs for row in _csv_rows(run))
    return out.getvalue()


def write_csv(path: Path, runs: Sequence[Run]) -> None:
    write_text_atomic(path, csv_text(runs))


def hdr_log_text(run: Run) -> str:
    """Each second of the run's timeline as one interval, timestamps relative to its start."""
    doc, out = run.doc, io.StringIO()
    writer = HistogramLogWriter(out)
    writer.output_comment(
        f"[loadtui {run.label}: {shown(doc.target.route)}, from {shown(run.source)}]"
    )
    writer.output_log_format_version()
    start = doc.started_epoch
    if start is not None and doc.started_at is not None:
        # hdrh's output_start_time is broken (datetime has no iso_format): write its line here
        when = doc.started_at.isoformat(timespec="milliseconds")
        # as precise as the BaseTime line: a StartTime rounded up puts the first interval
        # before the start, and readers skip it
        writer.output_comment(f"[StartTime: {start:f} (seconds since epoch), {when}]")
        writer.output_base_time(start * 1000.0)
    writer.output_legend()
    previous_end = 0.0
    for entry in doc.timeline:
        end = entry.t
        length = entry.seconds or end - previous_end
        previous_end = end
        if entry.hdr is not None:
            writer.output_interval_histogram(
                hdr.decode(entry.hdr), end - length, end, max_value_unit_ratio=US_PER_MS
            )
    return out.getvalue()


def write_hdr_logs(directory: Path, runs: Sequence[Run]) -> list[Path]:
    paths = [directory / f"{run.name}.hlog" for run in runs]
    for path, run in zip(paths, runs, strict=True):
        write_text_atomic(path, hdr_log_text(run))
    return paths
