"""loadtui.app and loadtui.tui.widgets: the TUI under Textual's Pilot: every key binding, fed by
the deterministic fake feed, at 80x24 and 160x48."""

from __future__ import annotations

import io
import threading

import pytest
from rich.console import Console
from rich.text import Text

from loadtui import exits
from loadtui.app import MAIN_KEYS, LoadtuiApp, MainScreen
from loadtui.engine.request_spec import RequestSpec
from loadtui.report import tables
from loadtui.run import runfile
from loadtui.targets.target import Target
from loadtui.tui.widgets import render
from loadtui.tui.widgets.keybar import PINNED_KEYS, KeyBar, key_line
from loadtui.tui.widgets.pane import RouteChoice, RoutePane
from loadtui.tui.widgets.screens import HelpScreen, QuitScreen, ResultsScreen, VerdictScreen
from tests.pilot import HOSTILE_ROUTES, SETTLE, hostile_app, make_app, screen_text

SIZES = [(80, 24), (160, 48)]


def keys_of(pane: RoutePane) -> tuple[str, int]:
    return pane.choice.route, pane.users


def text_of(widget) -> str:
    """What a Static shows, as plain text (at the width it has)."""
    content = widget.content
    if isinstance(content, str):
        return content
    console = Console(width=max(20, widget.content_size.width), file=io.StringIO(), record=True)
    console.print(content)
    return console.export_text()


def bottom_line(app: LoadtuiApp) -> str:
    bar = app.screen.query_one(KeyBar)
    return bar.render().plain


# ---- the start ---------------------------------------------------------------------------
async def test_starts_with_route_5_beside_route_4_at_40_users(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        panes = app.panes()
        assert [keys_of(p) for p in panes] == [("5", 40), ("4", 40)]
        assert all(p.status == "running" for p in panes)
        assert app.pane is panes[0] and panes[0].focused and not panes[1].focused
        assert panes[0].styles.border.top[0] == "heavy"  # focus shows without colour too
        assert panes[1].styles.border.top[0] == "round"


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["right"], ("6", 40)),
        (["n"], ("6", 40)),
        (["left"], ("4", 40)),
        (["p"], ("4", 40)),
        (["1"], ("5", 10)),
        (["2"], ("5", 40)),
        (["3"], ("5", 100)),
        (["plus"], ("5", 50)),
        (["minus"], ("5", 30)),
        (["1", "minus"], ("5", 1)),
        (["right", "right", "3"], ("7", 100)),
    ],
)
async def test_route_and_user_keys_start_one_new_run(tmp_path, keys, expected):
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()  # the first runs start once the first frame is drawn
        pane = app.panes()[0]
        first = pane.run
        await pilot.press(*keys)
        assert pane.status == "changing"
        await pilot.pause(SETTLE)
        assert keys_of(pane) == expected
        assert pane.run is not first and pane.run.spec.plan.users == expected[1]
        assert pane.history == [first] and first.ended  # one new run for the burst


# ---- stopping keeps the figures ----------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES)
async def test_space_stops_the_focused_pane_and_keeps_its_figures(tmp_path, size):
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        pane = app.panes()[0]
        await pilot.pause()
        measured = text_of(pane._client)
        await pilot.press("space")
        await pilot.pause()
        assert not pane.running and pane.status == "stopped"
        assert pane.model is not None and pane.model.state == "finished"
        figures = text_of(pane._client).splitlines()[1:]  # (the sparkline follows the width)
        assert figures == measured.splitlines()[1:] and "920 requests" in measured
        assert "starting" not in text_of(pane._client)
        assert "40 users · stopped 0:12" in pane.border_subtitle
        assert "stopped 0:12" in screen_text(app)

        await pilot.press("space")  # starts again: a new run, the stopped one in history
        await pilot.pause()
        assert pane.running and pane.status == "running" and len(pane.history) == 1


# ---- focus, panes --------------------------------------------------------------------------
async def test_tab_moves_focus_and_keys_act_on_the_focused_pane(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        first, second = app.panes()
        await pilot.press("tab")
        assert app.pane is second and second.focused and not first.focused
        assert second.styles.border.top[0] == "heavy" and first.styles.border.top[0] == "round"
        await pilot.press("3")
        await pilot.pause(SETTLE)
        assert keys_of(second) == ("4", 100) and keys_of(first) == ("5", 40)
        await pilot.press("tab")
        assert app.pane is first


async def test_add_and_close_panes(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("a")
        await pilot.pause()
        panes = app.panes()
        assert len(panes) == 3 and app.pane is panes[2] and panes[2].focused
        await pilot.press("a", "a")
        await pilot.pause()
        assert len(app.panes()) == 4  # four at most
        closed = app.panes()[3]
        await pilot.press("x")
        await pilot.pause()
        assert len(app.panes()) == 3 and closed.runs()[0] in app.closed_runs
        assert closed.runs()[0].ended
        for _ in range(3):
            await pilot.press("x")
            await pilot.pause()
        assert len(app.panes()) == 1 and app.pane.focused  # the last pane stays


async def test_r_starts_a_fresh_run_on_the_same_route(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()  # the first runs start once the first frame is drawn
        pane = app.panes()[0]
        first = pane.run
        await pilot.press("r")
        await pilot.pause()
        assert pane.run is not first and keys_of(pane) == ("5", 40)


# ---- the key bar ---------------------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES)
async def test_help_and_quit_always_show_in_the_key_bar(tmp_path, size):
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        for keys in ([], ["v"], ["escape", "d"], ["escape", "question_mark"]):
            await pilot.press(*keys)
            await pilot.pause()
            if app.screen.query(KeyBar):
                line = bottom_line(app)
                assert line.rstrip().endswith("? help  q quit"), line
                assert len(line) <= size[0]
        last = screen_text(app)
        assert "q quit" in last or "closes this help" in last


def test_every_key_in_the_key_bar_is_bound():
    bound = {
        key
        for binding in [*MainScreen.BINDINGS, *LoadtuiApp.BINDINGS]
        for key in (binding.key_display or binding.key, *binding.key.split(","))
    }
    for keys, _ in [*MAIN_KEYS, *PINNED_KEYS]:
        for key in ["←/p", "→/n"] if keys == "←→" else keys.split():
            assert key in bound, key


@pytest.mark.parametrize("width", [30, 80, 160])
def test_the_key_line_keeps_help_and_quit_at_any_width(width):
    line = key_line(MAIN_KEYS, PINNED_KEYS, width).plain
    assert line.endswith("? help  q quit") and len(line) == max(width, len("? help  q quit"))
    assert ("space stop/start" in line) == (width >= 80)


# ---- files ---------------------------------------------------------------------------------
async def test_e_exports_every_run_as_a_run_file(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()  # the first runs start once the first frame is drawn
        await pilot.press("3")
        await pilot.pause(SETTLE)
        await pilot.press("e")
        await pilot.pause()
        files = sorted((tmp_path / "runs").glob("*/*.json"))
        assert [f.name for f in files] == [
            "01-route-5-40u.json",
            "02-route-5-100u.json",
            "03-route-4-40u.json",
        ]
        doc = runfile.load(files[2])
        assert doc.target.variant == "4" and doc.summary.requests > 0
        assert any(v.code == "event_loop_blocked" for v in doc.verdicts)
        assert app.last_export == files[0].parent
        # written, but the running ones will measure more until stopped
        assert app.unsaved() == [pane.run for pane in app.panes()]


async def test_the_export_names_two_methods_on_one_path_apart(tmp_path):
    target = Target(url="http://127.0.0.1:8000", host="127.0.0.1", port=8000, route="/")
    post = RequestSpec(name="POST", method="POST", body=b"a=1")
    routes = [
        RouteChoice("/users/", "GET /users/", ""),
        RouteChoice("/users/", "POST /users/", "", shape=post),
    ]
    app = make_app(tmp_path, routes=routes, panes=[(0, 40), (1, 40)], target=target)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(SETTLE)
        await pilot.press("e")
        await pilot.pause()
        names = sorted(f.name for f in (tmp_path / "runs").glob("*/*.json"))
    assert names == ["01-route-users-40u.json", "02-route-POST-users-40u.json"]


# ---- the results view ------------------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES)
async def test_v_shows_every_run_whole_with_its_time_and_source(tmp_path, size):
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()  # the first runs start once the first frame is drawn
        await pilot.press("space")  # pane 1 stops: one finished, one running
        await pilot.press("e", "v")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        title = text_of(screen.query_one("#results-title"))
        assert "1 finished runs, 1 running (their figures still change" in title
        table = text_of(screen.query_one("#results"))
        lines = table.splitlines()
        assert all(len(line) <= size[0] for line in lines)
        assert lines[0].split() == ["state", *tables.COLUMNS]
        assert lines[1].split()[:4] == ["finished", "5", "40u", "12.0s"]
        assert any(line.split()[:4] == ["running", "4", "40u", "12.0s"] for line in lines)
        assert "event_loop_blocked" in table  # the verdicts, never cut
        assert table.count("from this session") == 2  # the source column's content, kept
        assert "/async-route-sync-inner-async-bg-async-task" in table

        await pilot.press("o")
        await pilot.pause()
        assert len(screen.loaded) == 2
        assert table != text_of(screen.query_one("#results"))
        # the file's path, wrapped wherever the width falls (its length is tmp_path's)
        shown = "".join(line.strip() for line in text_of(screen.query_one("#results")).split("\n"))
        assert "02-route-4-40u.json" in shown
        await pilot.press("escape")
        assert not isinstance(app.screen, ResultsScreen)


# ---- verdicts in full ----------------------------------------------------------------------
async def test_cut_verdicts_are_read_whole_with_d(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        pane = app.panes()[1]
        lower = text_of(pane._lower)
        assert "event_loop_blocked" in lower and "…" in lower  # no room: cut at 80x24
        await pilot.press("tab", "d")
        await pilot.pause()
        assert isinstance(app.screen, VerdictScreen)
        whole = text_of(app.screen.query_one("#verdicts")).replace("\n", " ")
        for verdict in pane._verdicts:
            assert " ".join(verdict.message.split()) in " ".join(whole.split())
        assert "async def / sync inner" in text_of(app.screen.query_one("#verdicts-title"))
        await pilot.press("escape")
        assert app.screen is app.main


def test_verdicts_that_fit_are_whole_and_wrapped():
    from loadtui.run.rundoc import Verdict

    long = Verdict(severity="critical", code="x", message="word " * 40, evidence={})
    lines, cut = render.verdict_lines([long], 40, 10)
    assert not cut and len(lines) == 6 and all(len(line) <= 40 for line in lines)
    lines, cut = render.verdict_lines([long, long], 40, 10)  # 12 lines in 10 rows
    assert cut and len(lines) == 10 and all(len(line) <= 40 for line in lines)
    assert not lines[5].plain.endswith("…") and lines[9].plain.endswith("…")  # the first whole
    lines, cut = render.verdict_lines([long, long], 40, 2)
    assert cut and len(lines) == 2 and all(line.plain.endswith("…") for line in lines)


def name_stats(name: str, rps: float, p50: float, errors: int = 0):
    from loadtui.engine import hdr
    from loadtui.run.rundoc import Histogram, LatencyMs, RequestStats

    latency = LatencyMs(p50=p50, p99=p50 * 4)
    histogram = Histogram(data=hdr.encode(hdr.new_histogram()))
    return RequestStats(
        name=name, method="GET", path="/", requests=int(rps * 10), errors=errors, rps=rps,
        latency_ms=latency, histogram=histogram,
    )  # fmt: skip


def test_a_mix_by_name_fits_the_rows_it_gets_and_names_are_text():
    found = [name_stats(f"request {n}", 10.0 * n, 2.0 * n) for n in range(1, 6)]
    found.append(name_stats("[bold]x[/bold]\x1b[2J" + "y" * 80, 1.0, 1500.0, errors=3))
    whole = render.names(found, 60, 20)
    assert [line.plain.split()[:3] for line in whole[:2]] == [
        ["request", "req/s", "p50"],
        ["request", "1", "10.0"],
    ]
    assert len(whole) == 7 and all(len(line.plain) <= 60 for line in whole)
    last = whole[-1]
    assert last.plain.startswith("[bold]x[/bold]\\x1b[2J") and "…" in last.plain  # as text, cut
    assert last.plain.split()[-3:] == ["1500", "6000", "3"]
    assert render.BAD in {span.style for span in last.spans}  # p50 of 1.5 s, and errors
    cut = render.names(found, 60, 4)
    assert len(cut) == 4 and cut[-1].plain == "… 4 more in the run file"
    assert render.names(found, 60, 1) == [] and render.names([], 60, 10) == []


# ---- the lower half at 160x48 --------------------------------------------------------------------
async def test_tall_panes_fill_their_height_with_history_and_distribution(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(0.3)
        for pane in app.panes():
            height = pane._lower.content_size.height
            lines = text_of(pane._lower).splitlines()
            assert height > 30 and len(lines) >= height - 1
            text = "\n".join(lines)
            assert "req/s each second" in text and "p99 ms each second" in text
            assert "latency distribution" in text
            chart = [
                line for line in lines if line.strip() and set(line.strip()) <= set(render.SPARK)
            ]
            assert len(chart) >= 12  # the charts take the rows they get


def test_a_long_run_draws_only_the_seconds_that_fit():
    from tests.synthetic import model as synthetic_model

    assert render.history(synthetic_model(30), 50, 10)[0].plain.startswith(
        "req/s each second, last 30 s"
    )
    assert render.history(synthetic_model(600), 50, 10)[0].plain.startswith(
        "req/s each second, last 50 s"
    )


# ---- help ----------------------------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES)
async def test_question_mark_shows_every_key_and_how_to_close_it(tmp_path, size):
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        help_box = app.screen.query_one("#help")
        text = text_of(help_box.query_one("Static"))
        for binding in [*MainScreen.BINDINGS, *LoadtuiApp.BINDINGS]:
            assert binding.tooltip in text
        assert "escape or ? closes this help" in screen_text(app)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark", "question_mark")
        assert not isinstance(app.screen, HelpScreen)


# ---- leaving -------------------------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES)
async def test_q_with_unsaved_runs_asks_and_escape_stays(tmp_path, size):
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()  # the first runs start once the first frame is drawn
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        shown = screen_text(app)
        assert "2 runs measured what no run file holds yet" in shown
        assert "export to" in shown and "quit without saving" in shown and "stay" in shown
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.main and app.is_running
        assert all(run.ended is False for run in app.all_runs())


async def test_q_q_leaves_without_saving_and_says_so(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()  # the first runs start once the first frame is drawn
        runs = app.all_runs()
        await pilot.press("q", "q")
        await pilot.pause(0.5)
    assert all(run.ended for run in runs)
    assert app.return_value == exits.OK and app.return_code == exits.OK
    assert not (tmp_path / "runs").exists()
    assert str(app.farewell) == "loadtui: quit without saving 2 runs"
    # the hard-exit fallback belongs to the CLI's process only: here it would end pytest's
    assert not any(isinstance(thread, threading.Timer) for thread in threading.enumerate())


async def test_q_then_e_exports_then_leaves_saying_where(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()  # the first runs start once the first frame is drawn
        await pilot.press("q", "e")
        await pilot.pause(0.5)
    files = sorted((tmp_path / "runs").glob("*/*.json"))
    assert len(files) == 2 and all(runfile.load(f).state == "finished" for f in files)
    assert app.return_code == exits.OK
    assert str(app.farewell) == f"loadtui: wrote 2 run files to {files[0].parent}/"


async def test_q_after_an_export_of_everything_leaves_at_once(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()  # the first runs start once the first frame is drawn
        await pilot.press("space", "tab", "space", "e", "q")  # both stopped, then written
        await pilot.pause(0.5)
    assert app.return_code == exits.OK
    export = next((tmp_path / "runs").iterdir())
    assert str(app.farewell) == f"loadtui: everything measured is in {export}/"


@pytest.mark.parametrize("size", SIZES)
async def test_ctrl_c_saves_what_was_measured_and_exits_130(tmp_path, size):
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()  # the first runs start once the first frame is drawn
        await pilot.press("space")  # one stopped (finished), one running (cut short)
        await pilot.press("ctrl+c")
        await pilot.pause(0.5)
    assert app.return_value == exits.INTERRUPTED and app.return_code == exits.INTERRUPTED
    files = sorted((tmp_path / "runs").glob("*/*.json"))
    assert [runfile.load(f).state for f in files] == ["finished", "interrupted"]
    assert str(app.farewell) == f"loadtui: wrote 2 run files to {files[0].parent}/"


# ---- hostile names -------------------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES)
async def test_routes_that_look_like_markup_are_shown_as_text(tmp_path, size):
    app = hostile_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        panes = app.panes()
        assert [pane.choice.route for pane in panes] == HOSTILE_ROUTES
        for pane, route in zip(panes, HOSTILE_ROUTES, strict=True):
            title = Text.from_markup(pane.border_title)  # the title, as markup, round trips
            assert title.plain == f" {route} "
            assert all(span.style == "bold" for span in title.spans)  # (bold: focused)
        shown = screen_text(app)
        assert all(route in shown for route in HOSTILE_ROUTES)
        await pilot.press("e")  # the notification names files made from these routes
        await pilot.pause()
        await pilot.press("v")
        await pilot.pause()
        table = text_of(app.screen.query_one("#results"))
        for route in HOSTILE_ROUTES:
            assert route in table
        await pilot.press("escape", "tab", "d")
        await pilot.pause()
        assert "/[bold red]RED[/]" in text_of(app.screen.query_one("#verdicts-title"))
        assert app.is_running


# ---- the stall banner ----------------------------------------------------------------------
async def test_stall_banner_names_the_culprit(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        banner = app.panes()[1].query_one("#banner")
        assert banner.display
        assert "STALL" in str(banner.render()) and "sync_inner_function" in str(banner.render())
        assert not app.panes()[0].query_one("#banner").display


async def test_an_export_that_fails_on_the_way_out_says_so_and_exits_1(tmp_path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where runs/ would go")
    app = make_app(tmp_path, runs_dir=blocked)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()  # the first runs start once the first frame is drawn
        await pilot.press("q", "e")
        await pilot.pause(0.5)
    assert app.return_code == exits.FAILED
    assert str(app.farewell).startswith("loadtui: export failed: ")
