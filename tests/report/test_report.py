"""loadtui.report: `loadtui report` over real run files: the table, Markdown, HTML in a real
browser, CSV, HdrHistogram logs, merging, and one clear line for every bad file."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hdrh.log import HistogramLogReader

from loadtui import formats
from loadtui.engine import hdr
from loadtui.report import svg
from loadtui.report.html import render as render_html
from loadtui.report.merge import merge_documents
from loadtui.report.runs import Run, find_run_files
from loadtui.run import runfile
from loadtui.run.rundoc import Holder, RunDocument, ThreadsSecond
from tests.chromium import visit
from tests.helpers import loadtui

pytestmark = pytest.mark.e2e

RUNS = {"5a": ("5", "machine-a/route-5.json"), "5b": ("5", "machine-b/route-5.json")}
RUNS["4"] = ("4", "route-4.json")


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three real runs made at once: route 5 twice (as if from two machines), route 4 once."""
    root = tmp_path_factory.mktemp("runs")
    files = {key: root / name for key, (_, name) in RUNS.items()}
    command = [sys.executable, "-m", "loadtui", "run"]
    load = ["--users", "5", "--duration", "3", "--json"]
    processes = [
        subprocess.Popen(
            [*command, route, *load, str(files[key])], stderr=subprocess.PIPE, text=True
        )
        for key, (route, _) in RUNS.items()
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=90)
        assert process.returncode == 0, stderr
    return files


@pytest.fixture(scope="session")
def docs(runs: dict[str, Path]) -> dict[str, RunDocument]:
    return {key: runfile.load(path) for key, path in runs.items()}


def table_row(stdout: str, route: str) -> list[str]:
    return next(line.split() for line in stdout.splitlines() if line.startswith(f"{route} "))


# ---- the table -------------------------------------------------------------------------------
def test_directory_is_searched_recursively_in_natural_order(runs, tmp_path):
    for name in ("route-5-100u.json", "route-5-10u.json", "route-5-40u.json"):
        (tmp_path / "m" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "m" / name).write_text("{}")
    assert [p.name for p in find_run_files([tmp_path])] == [
        "route-5-10u.json",
        "route-5-40u.json",
        "route-5-100u.json",
    ]
    assert sorted(find_run_files([runs["4"].parent])) == sorted(runs.values())


def test_terminal_table_compares_real_runs(runs, docs):
    result = loadtui("report", runs["4"].parent)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "route",
        "load",
        "time",
        "req/s",
        "mean",
        "p50",
        "p99",
        "errors",
        "stalls",
        "pending",
        "ttfb",
        "p99",
        "gap",
        "p99",
        "verdicts",
    ]
    blocked = table_row(result.stdout, "4")
    assert blocked[:4] == [
        "4",
        "5u",
        formats.duration(docs["4"].summary.duration_s),
        f"{docs['4'].summary.rps:.1f}",
    ]
    assert 2.5 <= docs["4"].summary.duration_s <= 4.0 and blocked[2].endswith("s")
    longest = max(s.duration_s for s in docs["4"].server.stalls)
    assert f"{len(docs['4'].server.stalls)} ({longest:.1f}s)" in " ".join(blocked)
    assert "event_loop_blocked" in " ".join(blocked[10:])
    fast = table_row(result.stdout, "5")
    assert fast[3] == f"{docs['5a'].summary.rps:.1f}"
    # route 5 does not block its loop, but a busy machine may hold it up long enough to count
    stalls, longest = docs["5a"].server.stalls, docs["5a"].server.longest_stall_s
    shown = "0" if longest is None else f"{len(stalls)} ({longest:.1f}s)"
    pending = docs["5a"].server.background_tasks_pending_end
    assert " ".join(fast[8:]).startswith(f"{shown} {pending}")
    # the time to the first byte; no stream, no gap
    first_byte = docs["5a"].summary.first_byte_ms
    assert first_byte is not None
    assert f"{shown} {pending} {formats.ms(first_byte.p99)} - " in " ".join(fast[8:]) + " "
    assert sum(line.startswith("5 ") for line in lines) == 2
    # what each key stands for, once each
    legend = " ".join(result.stdout.split())  # (wrapped at 80 columns)
    assert (
        "route 4 = /async-route-sync-inner-async-bg-async-task async def / sync inner / "
        "async_background_task_wrapping_async" in legend
    )
    assert sum(line.startswith("route 5 = /async-route-async-inner") for line in lines) == 1
    assert "what the runs showed" in result.stdout
    assert re.search(r"event_loop_blocked: .*4@5u", result.stdout)


def test_markdown_table_pastes(runs):
    result = loadtui("report", "--markdown", runs["5a"], runs["4"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "| route | load | time | req/s | mean | p50 | p99 | errors | stalls | pending | ttfb p99 "
        "| gap p99 | verdicts |"
    )
    assert lines[1] == "|" + "---|" * 13
    assert lines[2].startswith("| 5 | 5u | ") and lines[3].startswith("| 4 | 5u | ")
    assert re.fullmatch(r"\d+\.\ds", lines[2].split(" | ")[2])
    assert "event_loop_blocked" in lines[3].split("|")[-2]
    assert (
        "- **4** `/async-route-sync-inner-async-bg-async-task`: async def / sync inner / "
        "async_background_task_wrapping_async" in lines
    )
    assert "- **event_loop_blocked**: 4@5u" in lines


# ---- merging ---------------------------------------------------------------------------------
def test_merge_is_one_histogram_holding_both(docs):
    both = hdr.new_histogram()
    for key in ("5a", "5b"):
        for item in hdr.decode(docs[key].histogram.data).get_recorded_iterator():
            both.record_value(item.value_iterated_to, item.count_at_value_iterated_to)
    merged = merge_documents([docs["5a"], docs["5b"]])
    assert RunDocument.model_validate_json(merged.to_json()) == merged
    got = hdr.decode(merged.histogram.data)

    def buckets(histogram: Any) -> list[tuple[int, int]]:
        return [
            (item.value_iterated_to, item.count_at_value_iterated_to)
            for item in histogram.get_recorded_iterator()
        ]

    assert buckets(got) == buckets(both)
    assert got.get_total_count() == both.get_total_count() == merged.summary.requests
    assert got.get_min_value() == both.get_min_value()
    assert got.get_max_value() == both.get_max_value()
    timeline_total = sum(entry.requests for entry in merged.timeline)
    assert timeline_total == merged.summary.requests


def test_merge_keeps_the_minimum_when_one_side_is_empty(docs):
    five = docs["5b"]
    empty = five.model_copy(
        update={
            "run_id": "empty",
            "histogram": five.histogram.model_copy(
                update={"data": hdr.encode(hdr.new_histogram())}
            ),
            "summary": five.summary.model_copy(update={"requests": 0}),
        }
    )
    merged = merge_documents([empty, docs["5a"]])
    assert merged.summary.latency_ms.min == docs["5a"].summary.latency_ms.min


def test_merged_row_sums_requests(runs, docs, tmp_path):
    out = tmp_path / "merged.csv"
    result = loadtui("report", "--merge", "--csv", out, runs["4"].parent)
    assert result.returncode == 0, result.stderr
    both = [docs["5a"], docs["5b"]]
    requests = sum(doc.summary.requests for doc in both)
    # over the wall-clock span the two runs cover together
    duration = round(
        max(doc.finished_at.timestamp() for doc in both)
        - min(doc.started_at.timestamp() for doc in both),
        3,
    )
    merged = table_row(result.stdout, "5")
    assert merged[:2] == ["5", "10u"] and merged[2].endswith("s")
    assert merged[3] == f"{requests / duration:.1f}"
    assert sum(line.startswith("5 ") for line in result.stdout.splitlines()) == 1
    rows = {row["Route"]: row for row in csv.DictReader(out.open())}
    assert int(rows["5"]["Request Count"]) == requests
    assert "merged 5 @ 10u" in result.stderr


def test_merging_a_run_with_its_copy_is_refused(runs, tmp_path):
    copy = tmp_path / "copy.json"
    shutil.copy(runs["5a"], copy)
    result = loadtui("report", "--merge", runs["5a"], copy)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and str(copy) in result.stderr


# ---- files for other tools -------------------------------------------------------------------
def test_csv_has_locust_columns_per_run(runs, docs, tmp_path):
    out = tmp_path / "stats.csv"
    result = loadtui("report", "--csv", out, runs["5a"], runs["4"])
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(out.open()))
    assert [row["Route"] for row in rows] == ["5", "4"]
    percentiles = ["50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%"]
    for row, key in zip(rows, ("5a", "4"), strict=True):
        summary = docs[key].summary
        assert int(row["Request Count"]) == summary.requests
        assert int(row["Failure Count"]) == summary.errors
        assert float(row["Requests/s"]) == summary.rps
        values = [float(row[p]) for p in [*percentiles, "100%"]]
        assert values == sorted(values)
        assert float(row["50%"]) == pytest.approx(summary.latency_ms.p50, abs=0.001)
        assert float(row["100%"]) == pytest.approx(summary.latency_ms.max, abs=0.001)
        assert int(row["Stalls"]) == len(docs[key].server.stalls)
        assert float(row["Duration (s)"]) == summary.duration_s
        assert row["Path"] == docs[key].target.route
        assert row["Handler / Inner / Background"] == docs[key].target.pattern
    assert int(rows[0]["Background Tasks Pending"]) > 0
    assert rows[1]["Handler / Inner / Background"].startswith("async def / sync inner")


def test_hdr_logs_round_trip_through_hdrhistogram(runs, docs, tmp_path):
    out = tmp_path / "logs"
    result = loadtui("report", "--hdr-log", out, runs["4"].parent)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "route-4.hlog",
        "route-5-2.hlog",
        "route-5.hlog",
    ]
    doc = docs["4"]
    reader = HistogramLogReader(str(out / "route-4.hlog"), hdr.new_histogram())
    intervals = iter(reader.get_next_interval_histogram, None)
    started = doc.started_epoch
    for entry, interval in zip(doc.timeline, intervals, strict=True):
        expected = hdr.decode(entry.hdr)
        assert interval.get_total_count() == entry.requests == expected.get_total_count()
        assert interval.get_max_value() == expected.get_max_value()
        assert interval.get_end_time_stamp() / 1000 == pytest.approx(started + entry.t, abs=0.01)
    assert reader.get_start_time_sec() == pytest.approx(started, abs=0.001)


# ---- HTML ------------------------------------------------------------------------------------
PAGE_FACTS = """({
  charts: document.querySelectorAll("svg.chart").length,
  drawn: [...document.querySelectorAll("svg.chart")]
    .filter(svg => svg.getBoundingClientRect().width > 200).length,
  lines: document.querySelectorAll("svg.chart path.line").length,
  stalls: document.querySelectorAll("svg.chart rect.band").length,
  rows: document.querySelectorAll("table.runs tbody tr").length,
  columns: [...document.querySelectorAll("table.runs th")].map(th => th.textContent),
  routes: [...document.querySelectorAll("dl.routes dt")].map(dt => dt.textContent),
  verdicts: document.querySelectorAll("ul.verdicts li").length,
})"""


def charts_of(doc: RunDocument) -> int:
    """A run's charts: five, and who held the pool and the loop's busy share where sampled."""
    threads = doc.server.threads
    held = any(second.pool for second in threads)
    return 5 + held + any(second.loop_busy is not None for second in threads)


def test_html_report_renders_offline_in_chromium(runs, docs, tmp_path):
    if shutil.which("chromium") is None:
        pytest.fail("chromium is not installed: apt-get install chromium (make test installs it)")
    out = tmp_path / "report.html"
    result = loadtui("report", "--html", out, runs["5a"], runs["4"])
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    assert "<script" not in page
    assert set(re.findall(r'(?:src|href)="([a-z]+:)', page)) <= {"data:"}
    seen = visit(out.as_uri(), PAGE_FACTS)
    assert seen.errors == []
    assert seen.requests == [out.as_uri()]
    facts = seen.found
    charts = 1 + charts_of(docs["5a"]) + charts_of(docs["4"])  # the spectrum, then each run's
    assert facts["charts"] == facts["drawn"] == charts
    assert facts["lines"] >= 2 + 2 * 4
    assert facts["stalls"] > 0  # route 4 blocked its loop
    assert facts["rows"] == 2 and facts["verdicts"] >= 1
    assert facts["columns"][:3] == ["route", "load", "time"]
    assert facts["routes"] == ["route 5", "route 4"]


def _figure(page: str, title: str) -> str:
    start = page.index(f"<figcaption>{title} ")
    return page[start : page.index("</figure>", start)]


def test_html_charts_show_busy_over_waiting_and_end_with_the_run(docs):
    runs = [Run("route-4", ("route-4.json",), docs["4"])]
    page = render_html(runs, "now")
    pool = _figure(page, "Thread pool")
    waiting = pool.index('stroke="#d62728" stroke-dasharray="2 4"')
    busy = pool.index(f'stroke="{svg.PALETTE[0]}"/>')
    assert busy > waiting  # drawn later, on top: busy at 0 is not hidden under waiting at 0
    assert "border-top:3px dotted #d62728" in pool  # the legend says waiting is dotted
    end = max(entry.t for entry in docs["4"].timeline)
    ticks = [float(t) for t in re.findall(r'text-anchor="middle">([\d.]+)</text>', pool)]
    assert ticks and max(ticks) <= end < max(ticks) + 1.0  # not 12.5 for a 10 s run


def test_html_stacks_who_held_the_pool_and_draws_the_loops_busy_share(docs):
    doc = docs["4"]
    hostile = Holder(function="<script>x</script>", location="a.py:1", threads=30.0)
    second = ThreadsSecond(
        t=1.0, loop_busy=0.5, pool=[Holder(function="hash_password", threads=10.0), hostile]
    )
    busy = ThreadsSecond(t=2.0, loop_busy=0.9, pool=[hostile.model_copy(update={"threads": 40})])
    server = doc.server.model_copy(update={"threads": [second, busy]})
    page = render_html(
        [Run("route-4", ("route-4.json",), doc.model_copy(update={"server": server}))], "now"
    )
    held = _figure(page, "Who held the pool&#x27;s threads")
    assert held.count('class="area"') == 2 and "hash_password" in held
    assert "<script>" not in page and "&lt;script&gt;x&lt;/script&gt; (a.py:1)" in held
    assert "share of each second running code" in _figure(page, "Event loop busy")


# ---- bad input -------------------------------------------------------------------------------
def _edit(doc: dict[str, Any], **changes: Any) -> str:
    return json.dumps({**doc, **changes})


BAD_FILES = {
    "missing": None,
    "corrupt": b"\x00\xffPK\x03\x04 not json",
    "truncated": lambda text, doc: text[: len(text) // 2],
    "foreign": '{"name": "left-pad", "version": "1.3.0"}',
    "array": "[1, 2, 3]",
    "newer schema": lambda text, doc: _edit(doc, schema="loadtui.run/2"),
    "invalid": lambda text, doc: _edit(doc, summary={"requests": "many"}),
    "histogram does not decode": lambda text, doc: _edit(
        doc, histogram={**doc["histogram"], "data": "HISTFAAAACh4nJNpmSzMwMAgBwAAnotvalid"}
    ),
    "interval does not decode": lambda text, doc: _edit(
        doc, timeline=[{**doc["timeline"][0], "hdr": "not base64 at all"}]
    ),
    "not a number": lambda text, doc: _edit(doc, summary={**doc["summary"], "rps": float("nan")}),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_file_is_one_line_naming_it(case, runs, tmp_path):
    bad = tmp_path / "bad.json"
    content = BAD_FILES[case]
    if callable(content):
        text = runs["4"].read_text()
        content = content(text, json.loads(text))
    if isinstance(content, str):
        bad.write_text(content)
    elif isinstance(content, bytes):
        bad.write_bytes(content)
    result = loadtui("report", runs["4"], bad, "--html", tmp_path / "report.html")
    assert result.returncode == 2, result.stdout
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert str(bad) in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == "" and not (tmp_path / "report.html").exists()


def test_empty_directory_and_unwritable_output_are_one_line(runs, tmp_path):
    result = loadtui("report", tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"loadtui report: error: {tmp_path}: no run files (*.json) in this directory"
    ]
    result = loadtui("report", runs["4"], "--html", tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and str(tmp_path) in result.stderr
