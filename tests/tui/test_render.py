"""The pane's figure lines, from the pure render functions: at every width a pane can have, each
stays on one line (its part has a fixed height: a wrapped line pushes the part's last line out of
sight) and every number it shows is whole."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from loadtui.engine.plan import LoadPlan
from loadtui.probing.samples import Holder, Stall, ThreadsLook
from loadtui.report.tables import count
from loadtui.run.model import RunModel
from loadtui.run.spec import RunSpec
from loadtui.run.stallnow import StallNow
from loadtui.tui.widgets import render
from tests import synthetic
from tests.fake_feed import FakeRun

# 40: the narrowest the pane renders for; 56: two panes side by side at 120 columns
WIDTHS = range(40, 201)
NUMBER = re.compile(r"(?<!\w)\d[\d,.]*(?!\w)")  # not the digits inside a word (status_500)


def fed(route: str) -> RunModel:
    """A pane's run model from the deterministic feed (12 s of route ``route`` at 40 users)."""
    run = FakeRun(RunSpec(route=route, plan=LoadPlan(users=40, duration_s=None)), lambda *_: None)
    run.start()
    return run.model


def extreme() -> RunModel:
    """Every figure as long as it gets: hour-long latencies, millions of requests, errors of
    three kinds, a million requests unanswered for an hour, four workers with full pools and
    backlogs of every kind, a loop stalled for an hour by a handler with a long name."""
    errors = {"connect": 1_234_567, "read_timeout": 99, "status_500": 12}
    seconds = [
        replace(
            synthetic.snapshot(
                s, [9999.0, 3_600_000.0], errors=errors, in_flight=1_234_567, oldest_s=3600.0
            ),
            requests=12_345_678,
        )
        for s in (1, 2, 3)
    ]
    looks = [
        [
            synthetic.sample(
                quarter / 4,
                pid=pid,
                threadpool_capacity=10_000,
                threadpool_busy=10_000,
                threadpool_waiting=1_234_567,
                background_pending=dict.fromkeys(("sync", "async", "async_blocking"), 1_234_567),
                background_completed={"sync": quarter, "async": 0, "async_blocking": 0},
                loop_lag_s=3600.0,
                tick_age_s=3600.0,
                stalled_now=True,
                stall=Stall(
                    "2026-11-23T10:00:02+00:00",
                    synthetic.EPOCH,
                    3600.0,
                    True,
                    "a_handler_with_a_name_longer_than_any_pane_is_wide_" * 2,
                    "app/api/routes/a_module_with_a_long_name.py:1234",
                    leaf="psycopg Connection.wait",
                    pid=pid,
                ),
                stall_pid=4_194_304,
                heartbeat_ok=False,
                cpu_percent=100.0,
                rss_bytes=123_456_789_000,
            )
            for pid in (101, 102, 103, 104)
        ]
        for quarter in range(12)
    ]
    model = synthetic.model(3, per_second=seconds, looks=looks)
    assert model.started_epoch is not None
    model.add_threads([held(int(model.started_epoch) + 2, "a_handler_" * 20, 10_000.0)])
    return model


def held(
    epoch: int, function: str, threads: float, on_cpu: float = 1.0, python: float = 0.0
) -> ThreadsLook:
    """One second of a sidecar's stack sampler: ``function`` held ``threads`` pool threads."""
    holder = Holder(function, "app/auth.py:12", "hashlib.pbkdf2_hmac", threads, on_cpu, python)
    return ThreadsLook(epoch=epoch, pid=101, loop_busy=0.1, pool=(holder,))


def figure_lines(model: RunModel, width: int) -> list[str]:
    """The pane's lines of fixed height: the stall banner (when stalled now) and the figures."""
    banner = render.stall_banner(model.stall_now(), width, model.workers)
    lines = [banner] if banner else []
    lines += render.client(model, width) + render.server(model, width)
    assert all(line.cell_len == len(line.plain) for line in lines)  # one cell a character
    return [line.plain for line in lines]


MODELS = {
    "route 5": lambda: fed("5"),
    "route 4, stalled": lambda: fed("4"),
    "route 1, pool full": lambda: fed("1"),
    "before the first second": lambda: RunModel(target=synthetic.TARGET, plan=LoadPlan()),
    "every figure at its longest": extreme,
}


@pytest.mark.parametrize("make", MODELS.values(), ids=MODELS.keys())
def test_every_figure_line_fits_the_pane_at_every_width(make):
    model = make()
    # a compact form drops padding or a column (the backlog: its kinds for their total), never
    # part of a number
    found = model.backlog()
    whole_lines = figure_lines(model, max(WIDTHS))
    whole = {number for line in whole_lines for number in NUMBER.findall(line)}
    whole.add(count(found.total) if found else "")
    for width in WIDTHS:
        lines = figure_lines(model, width)
        assert len(lines) == len(whole_lines)
        for line in lines:
            assert len(line) <= width, (width, line)
            assert set(NUMBER.findall(line)) <= whole, (width, line)
        now, run = lines[-6:-4]
        assert all(name in now and name in run for name in ("p50", "p99")), lines


def test_two_panes_at_120_columns_keep_every_latency_column():
    for route in ("5", "4"):
        now, run, _totals = render.latency(fed(route), 56)  # a pane's content at 120x30
        for line in (now.plain, run.plain):
            assert re.findall(r"p50|p90|p99|max", line) == ["p50", "p90", "p99", "max"]
            assert line.endswith(" ms") and len(line) <= 56


def test_the_pool_line_names_who_holds_the_threads_when_there_is_room():
    model = fed("1")
    assert model.started_epoch is not None
    model.add_threads([held(int(model.started_epoch) + 5, "hash_password", 31.2)])
    wide, narrow = render.server(model, 120)[0].plain, render.server(model, 56)[0].plain
    assert "· 31 in hash_password (on CPU)" in wide
    assert "hash_password" not in narrow and "busy" in narrow
    model.add_threads([held(int(model.started_epoch) + 6, "render_invoice", 12.0, 0.04, 1.0)])
    wide = render.server(model, 120)[0].plain
    assert "· 12 in render_invoice (running Python)" in wide  # its GIL's turns, not a wait


def test_the_d_view_breaks_the_threads_down_by_function_as_text():
    model = fed("1")
    assert model.started_epoch is not None
    start = int(model.started_epoch)
    model.add_threads([held(start + 3, "hash_password", 30.0), held(start + 4, "[b]x[/b]", 10.0)])
    lines = [line.plain for line in render.holder_lines(model.threads())]
    assert lines[0].startswith("event loop busy 10%")
    assert "   75%  hash_password (app/auth.py:12) → hashlib.pbkdf2_hmac" in lines
    assert "   25%  [b]x[/b] (app/auth.py:12) → hashlib.pbkdf2_hmac" in lines
    assert "        on CPU" in lines


def waiting_run(oldest_s: float, finished: bool) -> RunModel:
    seconds = [synthetic.snapshot(s, [20.0] * 5, in_flight=100, oldest_s=oldest_s) for s in (1, 2)]
    model = synthetic.model(2, per_second=seconds)
    if not finished:
        model.state = "running"
    return model


@pytest.mark.parametrize(
    ("oldest_s", "finished", "words"),
    [
        (0.4, True, "100 unanswered at end, oldest 0.4s"),
        (0.4, False, None),  # requests on their way, as in any run
        (1.0, False, "100 waiting, oldest 1.0s"),
        (18.3, False, "100 waiting, oldest 18.3s"),
    ],
)
def test_the_pane_shows_requests_waiting_for_an_answer(oldest_s, finished, words):
    line = render.latency(waiting_run(oldest_s, finished), 80)[-1].plain
    assert line.startswith("        10 requests  0 errors")
    if words is None:
        assert "waiting" not in line and "unanswered" not in line
    else:
        assert line.endswith(f"  {words}")
    assert render.latency(waiting_run(18.3, False), 40)[-1].plain == (
        "10 requests  0 errors  100 waiting 18.3s"
    )


def test_the_pane_says_how_many_users_are_in_setup_and_at_the_end_never_through_it():
    run = waiting_run(0.1, True).summary().model_copy(update={"users_not_through_setup": 2})
    assert "0 errors  2 in setup" in render.totals(run, 80, ended=False).plain
    assert "0 errors  2 never through setup" in render.totals(run, 80, ended=True).plain
    none = run.model_copy(update={"users_not_through_setup": 0})
    assert "setup" not in render.totals(none, 80, ended=True).plain


READ_ITEMS = Stall(
    "",
    synthetic.EPOCH,
    1.6,
    True,
    "read_items",
    "app/api/routes/items.py:62",
    leaf="psycopg Connection.wait",
)


def test_the_stall_banner_names_the_culprit_where_it_is_and_what_it_was_in():
    line = render.stall_banner(StallNow(1.6, READ_ITEMS), 120).plain
    assert line == (
        " STALL 1.6 s: read_items (app/api/routes/items.py:62) → psycopg Connection.wait"
        " is blocking the event loop "
    )
    # narrower: the words go, then the call it was in, then the file:line; the name comes last
    shapes = set()
    for width in WIDTHS:
        line = render.stall_banner(StallNow(1.6, READ_ITEMS), width).plain
        assert len(line) <= width and "read_items" in line
        assert ("(app/api/routes/items.py:62)" in line) == ("items.py" in line), line
        assert ("→ psycopg Connection.wait" in line) == ("psycopg" in line), line
        assert "→" not in line or "items.py:62" in line
        shapes.add(("items.py" in line, "psycopg" in line, "blocking" in line))
    assert shapes == {
        (True, True, True),
        (True, True, False),
        (True, False, False),
        (False, False, True),
        (False, False, False),
    }
    assert render.stall_banner(StallNow(1.6, READ_ITEMS), 40).plain == (" STALL 1.6 s: read_items ")


def test_the_stall_banner_shows_what_a_sidecar_says_as_text():
    hostile = replace(
        READ_ITEMS,
        culprit="[bold red]x[/]\x1b[2J",
        location="a.py:1\u202e",
        leaf="\x1b]0;title\x07",
    )
    line = render.stall_banner(StallNow(None, hostile), 200)
    assert line is not None and not line.spans  # one style for the whole line, no markup
    assert "[bold red]x[/]\\x1b[2J (a.py:1\\u202e) → \\x1b]0;title\\x07" in line.plain
    unnamed = render.stall_banner(StallNow(0.3, None, pid=12), 80, workers=2)
    assert unnamed.plain == " STALL 0.3 s in worker 12: unknown code is blocking the event loop "
