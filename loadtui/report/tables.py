"""Text renderings of run documents: the summary `loadtui run` prints, and the comparison
table `loadtui matrix` and `loadtui report` print (plain or Markdown). Every string that came
from a run file is shown as text (:func:`loadtui.safe_text.shown`)."""

from __future__ import annotations

import textwrap
from collections.abc import Collection, Sequence

from loadtui.formats import count, duration, megabytes, ms, percent
from loadtui.run.gate import figure
from loadtui.run.outcome import no_success
from loadtui.run.rundoc import LatencyMs, RequestStats, RunDocument, StreamStats, Summary
from loadtui.safe_text import shown

WIDTH = 80


def route_label(doc: RunDocument) -> str:
    return shown(doc.target.variant or doc.target.route)


def load_label(doc: RunDocument) -> str:
    load = doc.load
    if load.stages_text is not None:
        return f"{load.stages_text} open"
    if load.mode == "open" and load.rate is not None:
        return f"{load.rate:g}/s open"
    return f"{load.users}u"


def describe_load(doc: RunDocument) -> str:
    load = doc.load
    low, high = load.think_s
    length = f"{load.duration_s:g} s" if load.duration_s else "until stopped"
    if load.stages_text is not None:
        return f"open loop {load.stages_text} (req/s@s), up to {load.users} connections, {length}"
    if load.mode == "open" and load.rate is not None:
        return f"open loop {load.rate:g} req/s, up to {load.users} connections, {length}"
    return f"{load.users} users, spawn {load.spawn_rate:g}/s, think {low:g}-{high:g} s, {length}"


def stall_cell(doc: RunDocument) -> str:
    stalls = doc.server.blocking_stalls
    longest = doc.server.longest_stall_s
    return "0" if longest is None else f"{len(stalls)} ({longest:.1f}s)"


def wrap(text: str, indent: int = 2) -> str:
    pad = " " * indent
    return textwrap.fill(text, WIDTH, initial_indent=pad, subsequent_indent=pad + "  ")


def verdict_lines(doc: RunDocument) -> list[str]:
    return [wrap(shown(f"[{v.severity}] {v.code}: {v.message}")) for v in doc.verdicts]


def _latency_row(latency: LatencyMs) -> str:
    values = (latency.p50, latency.p90, latency.p99, latency.p999, latency.max)
    return " ".join(f"{ms(v):>7}" for v in values)


def _server_lines(doc: RunDocument) -> list[str]:
    server = doc.server
    pool = (
        f"{count(server.threadpool_busy_max)}/{count(server.threadpool_capacity)}"
        f" busy, {count(server.threadpool_waiting_max)} waiting (max)"
    )
    drained = ""
    if server.drain_s is not None:
        drained = (
            f", after {server.drain_s:g} s drain "
            f"{count(server.background_tasks_pending_after_drain)}"
        )
    generator = doc.generator
    return [
        f"server     cpu {percent(server.cpu_percent_mean)}  "
        f"rss {megabytes(server.rss_bytes_max)}  pool {pool}",
        f"           stalls {stall_cell(doc)}  background pending at end "
        f"{count(server.background_tasks_pending_end)}{drained}",
        f"generator  cpu {percent(generator.cpu_percent_mean)}  loop lag max "
        f"{ms(generator.loop_lag_ms_max)} ms" + ("  SATURATED" if generator.saturated else ""),
    ]


def run_summary(doc: RunDocument, path: str | None = None) -> str:
    """What `loadtui run` prints on stdout when a run ends."""
    target, summary = doc.target, doc.summary
    latency = summary.latency_ms
    title = shown(target.route)
    if target.variant:
        title = f"{shown(target.variant)}  {title}"
    state = "" if doc.state == "finished" else f"  [{doc.state}]"
    lines = [
        f"route      {title}{state}",
        f"target     {shown(target.url)}" + ("  (spawned)" if target.spawned else ""),
        f"load       {describe_load(doc)}",
        "",
        f"{'requests':>9} {'errors':>7} {'req/s':>7} {'mean':>7} {'p50':>7} {'p90':>7} "
        f"{'p99':>7} {'p99.9':>7} {'max':>7}",
        f"{count(summary.requests):>9} {count(summary.errors):>7} "
        f"{summary.rps:>7.1f} {ms(latency.mean):>7} {_latency_row(latency)}",
    ]
    uncorrected = summary.latency_uncorrected_ms
    if uncorrected is not None:
        lines.append(f"{'uncorrected (from actual send):':>33} {_latency_row(uncorrected)}")
    if summary.first_byte_ms is not None:
        lines.append(f"{'first byte:':>33} {_latency_row(summary.first_byte_ms)}")
    lines.append("  latency in ms unless marked s")
    if summary.stream is not None:
        lines.append(f"streams    {stream_figures(summary.stream)}")
    lines += waiting_lines(summary) + setup_lines(summary)
    why = no_success(summary)
    if why:
        lines += [
            "",
            *textwrap.wrap(why, WIDTH, initial_indent="result     ", subsequent_indent=" " * 11),
        ]
    if doc.requests:
        lines += ["", *request_table(doc)]
    lines += ["", *_server_lines(doc)]
    if doc.verdicts:
        lines += ["", "verdicts", *verdict_lines(doc)]
    gate = gate_rows(doc)
    if gate:
        table = _table(GATE_COLUMNS, gate, GATE_COLUMNS, markdown=False)
        lines += ["", "gate", *(f"  {line}" for line in table.splitlines())]
    if path:
        lines += ["", f"run file   {shown(path)}"]
    return "\n".join(lines)


def stream_figures(stream: StreamStats) -> str:
    """The streaming responses: how many, their events, the gaps between their pieces."""
    gap = stream.gap_ms
    events = f"{count(stream.events)} events ({stream.events_per_s:.1f}/s)"
    if not stream.events:
        events = f"{count(stream.chunks)} chunks"
    return (
        f"{count(stream.streams)}, {events}, gap p50 {ms(gap.p50)} p99 "
        f"{ms(gap.p99)} max {ms(gap.max)}, first piece p50 {ms(stream.first_piece_ms.p50)}"
    )


def _first_byte_p99(stats: Summary | RequestStats) -> str:
    return ms(stats.first_byte_ms.p99) if stats.first_byte_ms is not None else "-"


def _gap_p99(stats: Summary | RequestStats) -> str:
    return ms(stats.stream.gap_ms.p99) if stats.stream is not None else "-"


def waiting_lines(summary: Summary) -> list[str]:
    """The requests still waiting for an answer when the load ended (given up then: not among
    the requests counted above), and the oldest one's wait; no line when none waited."""
    waiting, oldest = summary.in_flight_at_end, summary.oldest_in_flight_s
    if not waiting:
        return []
    since = f", the oldest for {oldest:.1f} s" if oldest is not None else ""
    return [f"waiting    {count(waiting)} still waiting for an answer at the end{since}"]


def setup_lines(summary: Summary) -> list[str]:
    """A journey's users that never got through its setup (each kept retrying it)."""
    left = summary.users_not_through_setup
    if not left:
        return []
    return [f"setup      {count(left)} users never got through setup (each retried it)"]


REQUEST_COLUMNS = (
    "request", "weight", "requests", "errors", "req/s", "mean", "p50", "p99", "ttfb p99", "gap p99",
)  # fmt: skip


def request_rows(doc: RunDocument) -> list[list[str]]:
    """Each named request of a mix: one row each."""
    return [
        [
            shown(stats.name),
            f"{stats.weight:g}",
            count(stats.requests),
            count(stats.errors),
            f"{stats.rps:.1f}",
            ms(stats.latency_ms.mean),
            ms(stats.latency_ms.p50),
            ms(stats.latency_ms.p99),
            _first_byte_p99(stats),
            _gap_p99(stats),
        ]
        for stats in doc.requests
    ]


def request_table(doc: RunDocument) -> list[str]:
    rows = request_rows(doc)
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(REQUEST_COLUMNS)]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    return [line(REQUEST_COLUMNS), *(line(row) for row in rows)]


COLUMNS = ("route", "load", "time", "req/s", "mean", "p50", "p99", "errors", "stalls", "pending")
TABLE_COLUMNS = (*COLUMNS, "ttfb p99", "gap p99", "verdicts")
TEXT_COLUMNS = {"route", "load", "verdicts"}
NOTE = (
    "time: how long the run ran; latency in ms unless marked s; stalls: count (longest); "
    "pending: background tasks not finished when the load ended; ttfb: time to the first byte; "
    "gap: between two pieces of a streaming response"
)


def comparison_row(doc: RunDocument) -> list[str]:
    summary = doc.summary
    latency = summary.latency_ms
    return [
        route_label(doc),
        load_label(doc),
        duration(summary.duration_s),
        f"{summary.rps:.1f}",
        ms(latency.mean),
        ms(latency.p50),
        ms(latency.p99),
        count(summary.errors),
        stall_cell(doc),
        count(doc.server.background_tasks_pending_end),
    ]


def verdict_cell(doc: RunDocument) -> str:
    """The codes of the verdicts worth a look (not info), or "-"."""
    return shown(", ".join(v.code for v in doc.verdicts if v.severity != "info")) or "-"


def table_rows(docs: Sequence[RunDocument]) -> list[list[str]]:
    """The rows of the comparison table: one per run, verdicts last."""
    return [
        [
            *comparison_row(doc),
            _first_byte_p99(doc.summary),
            _gap_p99(doc.summary),
            verdict_cell(doc),
        ]
        for doc in docs
    ]


def legend(docs: Sequence[RunDocument]) -> list[tuple[str, str, str]]:
    """What each demo route key stands for, once each: (key, path, handler / inner / background).

    Routes given as paths name themselves and need no entry."""
    found: dict[str, tuple[str, str, str]] = {}
    for doc in docs:
        target = doc.target
        if target.variant and target.variant not in found:
            found[target.variant] = (
                shown(target.variant),
                shown(target.route),
                shown(target.pattern or ""),
            )
    return list(found.values())


def legend_lines(docs: Sequence[RunDocument], markdown: bool = False) -> list[str]:
    """A line per demo route key: its path and its handler / inner / background."""
    if markdown:
        return [f"- **{key}** `{path}`: {pattern}" for key, path, pattern in legend(docs)]
    lines = []
    for key, path, pattern in legend(docs):
        lines.append(f"route {key} = {path}")
        lines += [" " * (len(key) + 9) + pattern] if pattern else []
    return lines


def comparison_table(docs: Sequence[RunDocument], markdown: bool = False) -> str:
    """One row per run (the shape of the seed's "What did we learn" figures), then what each
    demo route key stands for."""
    key = legend_lines(docs, markdown)
    table = _table(TABLE_COLUMNS, table_rows(docs), TEXT_COLUMNS, markdown)
    return "\n".join([table, *(["", *key] if key else [])])


def _table(
    columns: Sequence[str], rows: Sequence[Sequence[str]], text: Collection[str], markdown: bool
) -> str:
    if markdown:
        return "\n".join(markdown_table(columns, rows))
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]

    def line(cells: Sequence[str]) -> str:
        # names and verdicts read left to right; numbers align right
        return "  ".join(
            cell.ljust(width) if column in text else cell.rjust(width)
            for column, cell, width in zip(columns, cells, widths, strict=True)
        ).rstrip()

    return "\n".join([line(columns), *(line(row) for row in rows)])


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table's lines; a ``|`` in a cell is escaped."""
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return out + [
        "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows
    ]


def text_table(
    columns: Sequence[str], rows: Sequence[Sequence[str]], text: Collection[str] = ()
) -> str:
    """Aligned columns for a terminal: ``text`` columns to the left, the others to the right."""
    return _table(columns, rows, text, markdown=False)


# ---- the gate (--threshold, --fail-on) -------------------------------------------------------
GATE_COLUMNS = ("judged by", "observed", "result")
GATE_TABLE_COLUMNS = ("run", *GATE_COLUMNS)


def gate_rows(doc: RunDocument) -> list[list[str]]:
    """A row per threshold, and one for --fail-on: what the run was judged by, how it fared."""
    gate = doc.gate
    if gate is None:
        return []
    rows = [
        [
            shown(result.threshold.text),
            figure(result.threshold, result.observed),
            "passed" if result.passed else "BREACHED",
        ]
        for result in gate.thresholds
    ]
    if gate.fail_on:
        matched = shown(", ".join(gate.matched)) or "no verdict"
        result = "MATCHED" if gate.matched else "passed"
        rows.append([shown("--fail-on " + ",".join(gate.fail_on)), matched, result])
    return rows


def gate_table(docs: Sequence[RunDocument], markdown: bool = False) -> str:
    """Every judged run's gate, a row per threshold; "" when no run was judged."""
    rows = [
        [f"{route_label(doc)}@{load_label(doc)}", *row] for doc in docs for row in gate_rows(doc)
    ]
    if not rows:
        return ""
    return _table(GATE_TABLE_COLUMNS, rows, GATE_TABLE_COLUMNS, markdown)


def lessons(docs: Sequence[RunDocument], markdown: bool = False) -> list[str]:
    """The verdicts that stood out, grouped by code: which runs showed them."""
    by_code: dict[str, list[str]] = {}
    for doc in docs:
        for verdict in doc.verdicts:
            if verdict.severity != "info":
                by_code.setdefault(shown(verdict.code), []).append(
                    f"{route_label(doc)}@{load_label(doc)}"
                )
    if markdown:
        return [f"- **{code}**: {', '.join(runs)}" for code, runs in by_code.items()]
    return [wrap(f"{code}: {', '.join(runs)}") for code, runs in by_code.items()]


def runs_block(docs: Sequence[RunDocument], markdown: bool = False) -> str:
    """What `report`, `matrix` and the GitHub step summary show of several runs: the comparison
    table, then the verdicts that stood out, then the gate when a run was judged."""
    parts = [comparison_table(docs, markdown=markdown)]
    found = lessons(docs, markdown=markdown)
    if found:
        parts += ["", "**What the runs showed**" if markdown else "what the runs showed"]
        parts += ["", *found] if markdown else found
    gate = gate_table(docs, markdown=markdown)
    if gate:
        parts += ["", "**Gate**" if markdown else "gate"]
        parts += ["", gate] if markdown else [gate]
    return "\n".join(parts)
