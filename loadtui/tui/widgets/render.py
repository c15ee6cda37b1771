"""Pure functions from the run model to Rich text: what a pane shows, line by line.

No widget state lives here, so the same model always renders the same lines (which is what
the snapshot tests rely on). Styles are names of meaning, not colours: under NO_COLOR Textual
drops the colours and the words and bar characters still carry everything.
"""

from __future__ import annotations

import bisect
import textwrap
from collections.abc import Iterable, Sequence

from rich.text import Text

from loadtui.engine import hdr
from loadtui.formats import code_at, count, duration, megabytes, ms, ms_with_unit
from loadtui.probing.samples import STALL_THRESHOLD_S, ServerSample
from loadtui.run import holders, stats
from loadtui.run.model import RunModel
from loadtui.run.rundoc import RequestStats, ServerSecond, Summary, ThreadsSecond, Verdict
from loadtui.run.stallnow import StallNow
from loadtui.safe_text import shown

SPARK = "▁▂▃▄▅▆▇█"
BAR_FULL, BAR_EMPTY = "█", "░"
LABEL = "bold"
DIM = "dim"
GOOD = "green"
WARN = "yellow"
BAD = "bold red"
STALL = "bold reverse red"
SEVERITY_STYLE = {"critical": BAD, "warning": WARN, "info": DIM}
SEVERITY_MARK = {"critical": "!!", "warning": "! ", "info": "i "}
DISTRIBUTION_EDGES_MS = (1, 10, 100, 200, 500, 1000, 5000)
WAITING_SHOWN_S = 1.0  # while running, requests waiting are shown once the oldest waited this
WAITING_BAD_S = 5.0


def sparkline(values: Sequence[float], width: int) -> str:
    values = list(values)[-width:]
    if not values:
        return ""
    top = max(values) or 1.0
    return "".join(SPARK[min(len(SPARK) - 1, int(v / top * (len(SPARK) - 1)))] for v in values)


def bar(used: int, capacity: int, width: int) -> str:
    filled = round(width * min(1.0, used / capacity)) if capacity else 0
    return BAR_FULL * filled + BAR_EMPTY * (width - filled)


def _line(*parts: tuple[str, str] | str) -> Text:
    return Text.assemble(*parts)


def throughput(model: RunModel, width: int) -> Text:
    spark_width = max(0, width - 34)
    seconds = model.recent(max(1, spark_width))
    now = f"{seconds[-1].rps:7.1f}" if seconds else "     --"
    run = model.summary()
    return _line(
        ("req/s ", LABEL),
        (now, GOOD if seconds and seconds[-1].errors == 0 else WARN),
        "  ",
        (sparkline([s.rps for s in seconds], spark_width), GOOD),
        f"  avg {run.rps:.1f}",
    )


def _fitting(width: int, forms: Iterable[list[Text]]) -> list[Text]:
    """The first of ``forms`` (each the same lines, most room first) whose lines all fit in
    ``width`` cells, or else the last: a Static wraps a longer line, and in a part of fixed
    height the wrapped rest pushes the part's last line out of sight."""
    lines: list[Text] = []
    for lines in forms:
        if all(line.cell_len <= width for line in lines):
            break
    return lines


Figure = tuple[str, str, str]  # (name, value, style of the value)


def _figures(label: str, figures: Sequence[Figure], gap: int, value_width: int = 0) -> Text:
    """``label`` then each figure as "name value", ``gap`` spaces apart."""
    parts: list[tuple[str, str] | str] = [(f"{label:<8}", LABEL)]
    for index, (name, value, style) in enumerate(figures):
        parts += [(f"{' ' * gap * (index > 0)}{name} ", DIM), (f"{value:>{value_width}}", style)]
    return _line(*parts)


LATENCY_NAMES = ("p50", "p90", "p99", "max")
# (the values' width at least, the gap between columns, the columns shown), most room first:
# the padding goes before a column does; the last form shows p50 and p99
LATENCY_FORMS = tuple(
    (value_width, gap, columns)
    for columns in ((0, 1, 2, 3), (0, 1, 2), (0, 2))
    for value_width, gap in ((6, 2), (5, 2), (5, 1))
)
Percentiles = tuple[float | None, float | None, float | None, float | None]


def _latency(label: str, found: Percentiles, form: tuple[int, int, tuple[int, ...]]) -> Text:
    value_width, gap, columns = form
    p50, _, p99, _ = found
    style = BAD if (p50 or 0) >= 1000 else WARN if (p99 or 0) >= 1000 else ""
    values = [ms(found[column]) for column in columns]
    names = [LATENCY_NAMES[column] for column in columns]
    figures = [(name, value, style) for name, value in zip(names, values, strict=True)]
    line = _figures(label, figures, gap, value_width)
    # ms() writes 10 s and more as "12.3s": only an all-ms line gets the unit at its end
    line.append("" if any(v.endswith("s") for v in values) else " ms", DIM)
    return line


def latency(model: RunModel, width: int) -> list[Text]:
    """Latency now and over the run, in one form (so that their columns line up), then the
    run's requests and errors."""
    latest = model.latest()
    run = model.summary()
    whole = run.latency_ms
    now: Percentiles = (None, None, None, None)
    if latest is not None:
        now = (latest.p50_ms, latest.p90_ms, latest.p99_ms, latest.max_ms)
    rows = [("now", now), ("run", (whole.p50, whole.p90, whole.p99, whole.max))]
    longest = max(len(ms(value)) for _, found in rows for value in found)
    figures = _fitting(
        width,
        (
            [
                _latency(label, found, (max(value_width, longest), gap, columns))
                for label, found in rows
            ]
            for value_width, gap, columns in LATENCY_FORMS
        ),
    )
    return [*figures, totals(run, width, model.finished)]


def waiting(run: Summary, ended: bool, short: bool) -> tuple[str, str] | None:
    """The requests waiting for an answer and the oldest one's wait: at the end, whenever some
    were left unanswered; while running, once the oldest has waited WAITING_SHOWN_S."""
    number, oldest = run.in_flight_at_end, run.oldest_in_flight_s
    if not number or oldest is None or (not ended and oldest < WAITING_SHOWN_S):
        return None
    label = "unanswered" if ended else "waiting"
    if short:
        text = f"{count(number)} {label} {duration(oldest)}"
    else:
        text = f"{count(number)} {label}{' at end' if ended else ''}, oldest {duration(oldest)}"
    return f"  {text}", BAD if oldest >= WAITING_BAD_S else WARN


def in_setup(run: Summary, ended: bool) -> tuple[tuple[str, str], ...]:
    """The users not through a journey's setup: while running, still in it (or retrying it);
    at the end, the ones that never got through."""
    left = run.users_not_through_setup
    if not left:
        return ()
    label = "never through setup" if ended else "in setup"
    return ((f"  {count(left)} {label}", BAD if ended else WARN),)


def totals(run: Summary, width: int, ended: bool = False) -> Text:
    """Requests and errors (under the latency figures when they fit there), the requests
    waiting for an answer, then the errors' kinds, cut to the width: the kinds are words, every
    number is whole."""
    errors = run.errors
    figures = (
        f"{count(run.requests)} requests  ",
        (f"{count(errors)} errors", BAD if errors else DIM),
        *in_setup(run, ended),
    )
    # the indent goes first, then the waiting figures' words, then the waiting figures
    forms = (
        [_line((indent, LABEL), *figures, *([found] if found else []))]
        for indent, short, shown_waiting in (
            (" " * 8, False, True),
            ("", False, True),
            ("", True, True),
            ("", False, False),
        )
        for found in [waiting(run, ended, short) if shown_waiting else None]
    )
    line = _fitting(width, forms)[0]
    room = width - line.cell_len
    if errors and room > 0:  # (Rich cuts nothing to 0 cells)
        kinds = Text(f"  {', '.join(sorted(run.errors_by_kind))}", style=DIM)
        kinds.truncate(room, overflow="ellipsis")
        line.append_text(kinds)
    return line


def top_holder(second: ThreadsSecond | None) -> str:
    """``31 in hash_password (on CPU)``: who held most of the pool's threads, or ""."""
    held = holders.shares([second], "pool") if second is not None else []
    if not held or held[0].holder.threads < 0.5:
        return ""
    top = held[0]
    threads = count(round(top.holder.threads))
    return f"{threads} in {shown(top.holder.function)} ({holders.doing(top)})"


def pool(window: ServerSecond, width: int, workers: int = 1, holder: str = "") -> Text:
    capacity, busy = window.threadpool_capacity, window.threadpool_busy
    if capacity is None or busy is None:
        words = ("no thread-pool figures from this target", "no thread-pool figures")
        return _fitting(width, ([_line(("pool    ", LABEL), (w, DIM))] for w in words))[0]
    waiting = window.threadpool_waiting or 0
    full = busy >= capacity and waiting > 0
    bar_style = BAD if full or window.pool_saturated else GOOD

    def form(label: str, gap: str, with_workers: bool, held: str = "") -> list[Text]:
        figures = _line(
            f"{busy}/{capacity} busy{gap}",
            (f"{count(waiting)} waiting", BAD if waiting else DIM),
            (f"{gap}{workers} workers" if workers > 1 and with_workers else "", DIM),
            (f"{gap}· {held}" if held else "", WARN if full else ""),
        )
        # the bar gives way to the figures
        bar_width = min(max(6, min(30, width - 38)), width - len(label) - 1 - figures.cell_len)
        drawn = bar(busy, capacity, bar_width) if bar_width >= 3 else ""
        return [_line((label, LABEL), (drawn, bar_style), " " if drawn else "", figures)]

    forms = (
        *((("pool    ", "  ", True, holder), ("pool    ", " ", False, holder)) if holder else ()),
        ("pool    ", "  ", True),
        ("pool    ", " ", True),
        ("pool    ", " ", False),
        ("pool ", " ", False),
    )
    return _fitting(width, (form(*each) for each in forms))[0]


def backlog(found: stats.Backlog | None, width: int) -> Text:
    if found is None:
        return _line(("backlog ", LABEL), ("no background-task figures", DIM))
    pending = found.pending
    if not pending:
        return _line(("backlog ", LABEL), ("no background tasks pending", DIM))
    worst = found.worst
    blocking = "sync" in pending or "async_blocking" in pending

    def form(gap: str, by_kind: bool, unknown: str | None) -> list[Text]:
        """``unknown``: the words for a drain time not known yet; None: no drain time."""
        parts = (
            gap.join(f"{count(n)} {kind}" for kind, n in pending.items())
            if by_kind
            else f"{count(found.total)} pending"
        )
        line = _line(("backlog ", LABEL), (parts, WARN if blocking else ""))
        if unknown is None:
            return [line]
        line.append(f"{gap}drain ", DIM)
        if worst is None:
            line.append(unknown, DIM)
        else:
            critical = worst[1] >= stats.BACKLOG_CRITICAL_DRAIN_S
            line.append(f"~{duration(worst[1])}", BAD if critical else "")
        return [line]

    forms = (
        ("  ", True, "unknown: none finished yet"),
        ("  ", True, "unknown"),
        (" ", True, "unknown"),
        (" ", False, "unknown"),
        (" ", False, None),
    )
    return _fitting(width, (form(*each) for each in forms))[0]


def loop_and_process(window: ServerSecond, sample: ServerSample | None, width: int) -> Text:
    lag = window.loop_lag_max_s
    timed_out = sample is not None and sample.heartbeat_ok is False
    beat = "timeout" if timed_out else ms_with_unit(window.heartbeat_ms_max)
    cpu = "-" if window.cpu_percent is None else f"{window.cpu_percent:.0f}%"
    figures: list[Figure] = [
        (
            "lag",
            ms_with_unit(lag * 1000 if lag is not None else None),
            BAD if (lag or 0) >= STALL_THRESHOLD_S else "",
        ),
        ("heartbeat", beat, BAD if timed_out else ""),
        ("cpu", cpu, ""),
        ("rss", megabytes(window.rss_bytes), ""),
    ]
    # the padding goes first, then rss, then cpu
    forms = ([_figures("loop", figures[:shown], gap)] for shown in (4, 3, 2) for gap in (2, 1))
    return _fitting(width, forms)[0]


def client(model: RunModel, width: int) -> list[Text]:
    """The pane's first part: the load's throughput, latency, requests and errors."""
    return [throughput(model, width), *latency(model, width)]


def server(model: RunModel, width: int) -> list[Text]:
    """The pane's second part: what the server's pool, background tasks and loop are doing."""
    window = model.server_window()
    return [
        pool(window, width, model.workers, top_holder(model.latest_threads())),
        backlog(model.backlog(), width),
        loop_and_process(window, model.latest_sample(), width),
    ]


def stall_banner(now: StallNow | None, width: int, workers: int = 1) -> Text | None:
    """One line, whatever the width (its height is the layout's): the culprit with its file:line
    and the call it was in. Narrower, shorter words, then none, then the culprit without the
    call, then without its file:line, then its name cut."""
    if now is None:
        return None
    seconds = f" {now.seconds:.1f} s" if now.seconds is not None else ""
    where = f" in worker {now.pid}" if workers > 1 and now.pid else ""
    stall = now.stall
    if stall is None:
        names = ["unknown code"]
    else:
        named = (
            code_at(stall.culprit, stall.location, stall.leaf),
            code_at(stall.culprit, stall.location),
            stall.culprit,
        )
        names = [shown(name) for name in dict.fromkeys(named)]
    words = (" is blocking the event loop", " blocks the loop", "")
    forms = (
        [Text(f" STALL{seconds}{where}: {name}{w} ", style=STALL)] for name in names for w in words
    )
    line = _fitting(width, forms)[0]
    line.truncate(width, overflow="ellipsis")
    return line


def _wrapped(text: str, width: int, style: str) -> list[Text]:
    lines = textwrap.wrap(text, max(10, width), subsequent_indent=" " * 3) or [""]
    return [Text(line, style=style, no_wrap=True) for line in lines]


HOLDER_GROUPS = (
    ("pool", "the thread pool: thread-seconds by function"),
    ("loop", "the event loop: its time by function"),
    ("other", "other threads: thread-seconds by function"),
)


def holder_lines(seconds: Sequence[ThreadsSecond]) -> list[Text]:
    """Who held the server's threads over ``seconds`` (the `d` view): per group, each function
    with its share, what it was doing and its file:line, all as text."""
    lines: list[Text] = []
    busy = [s.loop_busy for s in seconds if s.loop_busy is not None]
    if busy:
        mean = sum(busy) / len(busy)
        lines.append(Text(f"event loop busy {mean:.0%} of the time, at most {max(busy):.0%}"))
    for group, title in HOLDER_GROUPS:
        held = holders.shares(seconds, group)
        if not held:
            continue
        lines.append(Text(title, style=LABEL))
        for share in held:
            what = holders.doing(share) + (", background task" if share.holder.background else "")
            lines.append(Text(f"  {share.share:>4.0%}  {shown(holders.named(share.holder))}"))
            lines.append(Text(f"        {shown(what)}", style=DIM))
    return lines


def verdict_lines(found: Sequence[Verdict], width: int, rows: int) -> tuple[list[Text], bool]:
    """The verdicts in at most ``rows`` lines: whole (wrapped) when they fit; else a line each
    at least, the rows left over showing more of the first ones, and each cut one ending in
    "…"; and whether any was cut (the `d` view shows them whole)."""
    whole = [
        _wrapped(
            shown(f"{SEVERITY_MARK[v.severity]} {v.code}: {v.message}"),
            width,
            SEVERITY_STYLE[v.severity],
        )
        for v in found
    ]
    if sum(len(lines) for lines in whole) <= rows:
        return [line for lines in whole for line in lines], False
    shown_rows = [1] * min(len(whole), max(0, rows))
    spare = rows - len(shown_rows)
    for i, lines in enumerate(whole[: len(shown_rows)]):
        more = min(spare, len(lines) - 1)
        shown_rows[i] += more
        spare -= more
    out: list[Text] = []
    for lines, given in zip(whole, shown_rows, strict=False):
        out += lines[: given - 1]
        rest = lines[given - 1 :]
        last = Text(" ".join(line.plain.strip() for line in rest), style=rest[0].style)
        if given > 1:
            last = Text("   ") + last
        if len(rest) > 1:
            last.truncate(width - 1)
            last.append("…")
        last.no_wrap = True
        out.append(last)
    return out, True


def fallback(route: str, chosen: str, run: Summary, width: int) -> list[Text]:
    """A route loaded as a fallback (nobody named it) says so, and once it answers 4xx/5xx,
    which status and how often."""
    statuses = {k: n for k, n in run.errors_by_kind.items() if k.startswith("http_")}
    how = f"loaded as a fallback: {chosen}; give --route PATH or --openapi URL"
    if not statuses:
        return _wrapped(shown(f"i  {route}: {how}"), width, WARN)
    status = max(statuses, key=lambda kind: statuses[kind])
    answered = f"{count(statuses[status])} of {count(run.requests)}"
    text = f"!! {route} answered HTTP {status.removeprefix('http_')} ({answered}): {how}"
    return _wrapped(shown(text), width, BAD)


def column_chart(values: Sequence[float], rows: int, top: float) -> list[str]:
    """``values`` as columns of block characters ``rows`` high (eighths of a row), top first."""
    eighths = [round(v / top * rows * 8) if top > 0 else 0 for v in values]
    return [
        "".join(
            SPARK[min(8, h - base) - 1] if h > base else " "
            for h in eighths
            for base in ((rows - 1 - row) * 8,)
        )
        for row in range(rows)
    ]


def history(model: RunModel, width: int, rows: int) -> list[Text]:
    """req/s and p99 each second, as charts of ``rows`` lines in all (two titles included);
    only the newest seconds that fit are read, so a long run costs what a short one does."""
    seconds = model.recent(max(1, width))
    if not seconds or rows < 2:
        return []
    charts: list[tuple[str, list[float], str]] = [
        ("req/s", [s.rps for s in seconds], GOOD),
        ("p99 ms", [s.p99_ms or 0.0 for s in seconds], WARN),
    ]
    if rows < 6:
        charts = charts[:1]
    height = (rows - len(charts)) // len(charts)
    lines: list[Text] = []
    for name, values, style in charts:
        top = max(values) or 1.0
        title = f"{name} each second, last {len(values)} s, top {_number(top)}"
        lines.append(Text(title, style=LABEL, no_wrap=True))
        lines += [Text(row, style=style, no_wrap=True) for row in column_chart(values, height, top)]
    return lines


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


NAME_FIGURES = f"{'req/s':>8}{'p50':>7}{'p99':>7}{'errors':>8}"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def names(found: Sequence[RequestStats], width: int, rows: int) -> list[Text]:
    """A mix's requests by name (req/s over the run, p50 and p99 in ms, errors), in
    ``rows`` lines at most: a heading and a line a name; those that do not fit are counted in
    the last line (the run file has them all)."""
    if rows < 2 or not found:
        return []
    name_width = max(7, min(max(len(shown(s.name)) for s in found), width - len(NAME_FIGURES)))
    lines = [Text(f"{'request':<{name_width}}{NAME_FIGURES}", style=LABEL, no_wrap=True)]
    fit = found if len(found) < rows else found[: rows - 2]
    for stat in fit:
        latency = stat.latency_ms
        style = BAD if (latency.p50 or 0) >= 1000 else WARN if (latency.p99 or 0) >= 1000 else ""
        lines.append(
            _line(
                f"{_cut(shown(stat.name), name_width):<{name_width}}",
                f"{stat.rps:>8.1f}",
                (f"{ms(latency.p50):>7}{ms(latency.p99):>7}", style),
                (f"{count(stat.errors):>8}", BAD if stat.errors else DIM),
            )
        )
        lines[-1].no_wrap = True
    if len(fit) < len(found):
        lines.append(Text(f"… {len(found) - len(fit)} more in the run file", style=DIM))
    return lines


DISTRIBUTION_ROWS = len(DISTRIBUTION_EDGES_MS) + 2  # a title and a row per bucket
HISTORY_MIN_ROWS = 3  # a title and two rows of chart


def first_byte_and_streams(run: Summary, width: int) -> list[Text]:
    """The run's time to the first byte and, when streams were seen, the gaps between their
    pieces and their events per second: one line (none before a response began)."""
    first = run.first_byte_ms
    if first is None:
        return []
    parts: list[tuple[str, str] | str] = [
        ("first byte ", LABEL),
        ("p50 ", DIM),
        ms(first.p50),
        (" p99 ", DIM),
        ms_with_unit(first.p99),
    ]
    stream = run.stream
    if stream is None:
        return [_line(*parts)]
    gap = [("  gap ", LABEL), ("p50 ", DIM), ms(stream.gap_ms.p50), (" p99 ", DIM)]
    gap.append(ms_with_unit(stream.gap_ms.p99))
    rate = [f"  {stream.events_per_s:.1f} ", ("events/s", DIM)]
    # narrow: a stream's gaps matter more than its first byte
    forms = (
        [_line(*parts, *gap, *rate)],
        [_line(*parts, *gap)],
        [_line(("gap ", LABEL), *gap[1:], *rate)],
        [_line(("gap ", LABEL), *gap[1:])],
    )
    return _fitting(width, forms)


def lower(model: RunModel, found: Sequence[Verdict], width: int, height: int) -> list[Text]:
    """What goes under the figures, in ``height`` lines: the verdicts first (whole when they
    fit), the time to the first byte and the streams, then a mix's requests by name, then the
    per-second history, then the latency distribution, filling the height."""
    lines, _ = verdict_lines(found, width, height)
    if height - len(lines) > 1:
        lines += first_byte_and_streams(model.summary(), width)
    if len(model.mix) > 1:
        lines += names(model.request_stats(), width, height - len(lines))
    rest = height - len(lines)
    distribution_fits = rest >= 1 + DISTRIBUTION_ROWS + 1 + HISTORY_MIN_ROWS
    chart_rows = rest - 1 - (1 + DISTRIBUTION_ROWS if distribution_fits else 0)
    if chart_rows >= HISTORY_MIN_ROWS:
        drawn = history(model, width, chart_rows)
        if drawn:
            lines += [Text(""), *drawn]
    if distribution_fits:
        lines += [Text(""), *distribution(model, width)]
    return lines


def _edge(milliseconds: int) -> str:
    return f"{milliseconds}" if milliseconds < 1000 else f"{milliseconds // 1000}s"


def distribution(model: RunModel, width: int) -> list[Text]:
    """How the run's latencies spread over log-spaced buckets, as bars."""
    histogram = model.histogram()
    recorded = hdr.recorded(histogram)
    hdr.release(histogram)
    total = sum(n for _, n in recorded)
    if total == 0:
        return []
    counts = [0] * (len(DISTRIBUTION_EDGES_MS) + 1)
    for value_us, n in recorded:
        counts[bisect.bisect_right(DISTRIBUTION_EDGES_MS, value_us / 1000.0)] += n
    labels = [f"<{_edge(edge)}" for edge in DISTRIBUTION_EDGES_MS]
    labels.append(f">={_edge(DISTRIBUTION_EDGES_MS[-1])}")
    bar_width = max(10, width - 20)
    lines = [Text("latency distribution (run, ms)", style=LABEL)]
    for label, n in zip(labels, counts, strict=True):
        share = n / total
        lines.append(
            _line(
                (f"{label:>7} ", DIM),
                (BAR_FULL * round(share * bar_width), GOOD),
                (f" {share:.0%}" if n else "", DIM),
            )
        )
    return lines
