"""Text renderings of run documents: the summary `loadtui run` prints, and the comparison
table `loadtui matrix` and `loadtui report` print (plain or Markdown)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

WIDTH = 80
Document = dict[str, Any]


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 10_000:
        return f"{value / 1000:.1f}s"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def megabytes(value: int | None) -> str:
    return "-" if value is None else f"{value / 1e6:.1f} MB"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def route_label(doc: Document) -> str:
    target = doc["target"]
    return str(target.get("variant") or target["route"])


def load_label(doc: Document) -> str:
    load = doc["load"]
    if load["mode"] == "open":
        return f"{load['rate']:g}/s open"
    return f"{load['users']}u"


def describe_load(doc: Document) -> str:
    load = doc["load"]
    low, high = load["think_s"]
    length = f"{load['duration_s']:g} s" if load["duration_s"] else "until stopped"
    if load["mode"] == "open":
        return f"open loop {load['rate']:g} req/s, up to {load['users']} connections, {length}"
    return (
        f"{load['users']} users, spawn {load['spawn_rate']:g}/s, think {low:g}-{high:g} s, {length}"
    )


def _stall_cell(doc: Document) -> str:
    stalls = doc["server"]["stalls"]
    if not stalls:
        return "0"
    longest = max(s["duration_s"] for s in stalls)
    return f"{len(stalls)} ({longest:.1f}s)"


def _pending_cell(doc: Document) -> str:
    return count(doc["server"].get("background_tasks_pending_end"))


def wrap(text: str, indent: int = 2) -> str:
    pad = " " * indent
    return textwrap.fill(text, WIDTH, initial_indent=pad, subsequent_indent=pad + "  ")


def verdict_lines(doc: Document) -> list[str]:
    return [wrap(f"[{v['severity']}] {v['code']}: {v['message']}") for v in doc["verdicts"]]


def run_summary(doc: Document, path: str | None = None) -> str:
    """What `loadtui run` prints on stdout when a run ends."""
    target, summary = doc["target"], doc["summary"]
    server, generator = doc["server"], doc["generator"]
    latency = summary["latency_ms"]
    title = target["route"]
    if target.get("variant"):
        title = f"{target['variant']}  {title}"
    state = "" if doc.get("state") == "finished" else f"  [{doc.get('state')}]"
    lines = [
        f"route      {title}{state}",
        f"target     {target['url']}" + ("  (spawned)" if target["spawned"] else ""),
        f"load       {describe_load(doc)}",
        "",
        f"{'requests':>9} {'errors':>7} {'req/s':>7} {'mean':>7} {'p50':>7} {'p90':>7} "
        f"{'p99':>7} {'p99.9':>7} {'max':>7}",
        f"{count(summary['requests']):>9} {count(summary['errors']):>7} "
        f"{summary['rps']:>7.1f} {ms(latency['mean']):>7} {ms(latency['p50']):>7} "
        f"{ms(latency['p90']):>7} {ms(latency['p99']):>7} {ms(latency['p999']):>7} "
        f"{ms(latency['max']):>7}",
    ]
    if "latency_uncorrected_ms" in summary:
        raw = summary["latency_uncorrected_ms"]
        lines.append(
            f"{'uncorrected (from actual send):':>33} {ms(raw['p50']):>7} {ms(raw['p90']):>7} "
            f"{ms(raw['p99']):>7} {ms(raw['p999']):>7} {ms(raw['max']):>7}"
        )
    lines.append("  latency in ms unless marked s")
    pool = (
        f"{count(server.get('threadpool_busy_max'))}/{count(server.get('threadpool_capacity'))}"
        f" busy, {count(server.get('threadpool_waiting_max'))} waiting (max)"
    )
    lines += [
        "",
        f"server     cpu {percent(server.get('cpu_percent_mean'))}  "
        f"rss {megabytes(server.get('rss_bytes_max'))}  pool {pool}",
        f"           stalls {_stall_cell(doc)}  background pending at end "
        f"{_pending_cell(doc)}"
        + (
            f", after {server['drain_s']:g} s drain "
            f"{count(server.get('background_tasks_pending_after_drain'))}"
            if server.get("drain_s") is not None
            else ""
        ),
        f"generator  cpu {percent(generator.get('cpu_percent_mean'))}  loop lag max "
        f"{ms(generator.get('loop_lag_ms_max'))} ms"
        + ("  SATURATED" if generator.get("saturated") else ""),
    ]
    if doc["verdicts"]:
        lines += ["", "verdicts", *verdict_lines(doc)]
    if path:
        lines += ["", f"run file   {path}"]
    return "\n".join(lines)


COLUMNS = ("route", "load", "req/s", "mean", "p50", "p99", "errors", "stalls", "pending")


def comparison_rows(docs: Sequence[Document]) -> list[list[str]]:
    rows = []
    for doc in docs:
        summary = doc["summary"]
        latency = summary["latency_ms"]
        rows.append(
            [
                route_label(doc),
                load_label(doc),
                f"{summary['rps']:.1f}",
                ms(latency["mean"]),
                ms(latency["p50"]),
                ms(latency["p99"]),
                count(summary["errors"]),
                _stall_cell(doc),
                _pending_cell(doc),
            ]
        )
    return rows


TABLE_COLUMNS = (*COLUMNS, "verdicts")
TEXT_COLUMNS = {"route", "load", "verdicts"}


def verdict_cell(doc: Document) -> str:
    """The codes of the verdicts worth a look (not info), or "-"."""
    return ", ".join(v["code"] for v in doc["verdicts"] if v["severity"] != "info") or "-"


def table_rows(docs: Sequence[Document]) -> list[list[str]]:
    """`comparison_rows` with the verdicts cell: the rows of the comparison table."""
    return [[*row, verdict_cell(doc)] for row, doc in zip(comparison_rows(docs), docs, strict=True)]


def comparison_table(docs: Sequence[Document], markdown: bool = False) -> str:
    """One row per run: the shape of the seed's "What did we learn" figures."""
    rows = table_rows(docs)
    if markdown:
        out = ["| " + " | ".join(TABLE_COLUMNS) + " |", "|" + "---|" * len(TABLE_COLUMNS)]
        out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
        return "\n".join(out)
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(TABLE_COLUMNS)]

    def line(cells: Sequence[str]) -> str:
        # names and verdicts read left to right; numbers align right
        return "  ".join(
            cell.ljust(width) if column in TEXT_COLUMNS else cell.rjust(width)
            for column, cell, width in zip(TABLE_COLUMNS, cells, widths, strict=True)
        ).rstrip()

    out = [line(TABLE_COLUMNS), *(line(row) for row in rows)]
    return "\n".join(out)


def lessons(docs: Sequence[Document], markdown: bool = False) -> list[str]:
    """The verdicts that stood out, grouped by code: which runs showed them."""
    by_code: dict[str, list[str]] = {}
    for doc in docs:
        for verdict in doc["verdicts"]:
            if verdict["severity"] == "info":
                continue
            by_code.setdefault(verdict["code"], []).append(f"{route_label(doc)}@{load_label(doc)}")
    if markdown:
        return [f"- **{code}**: {', '.join(runs)}" for code, runs in by_code.items()]
    return [wrap(f"{code}: {', '.join(runs)}") for code, runs in by_code.items()]
