"""The TUI under Textual's Pilot: every key binding, fed by the deterministic fake feed."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from loadtui import runfile
from loadtui.app import AppConfig, LoadtuiApp
from loadtui.plan import LoadPlan
from loadtui.widgets.pane import APPLY_DELAY_S, RoutePane
from loadtui.widgets.screens import HelpScreen, ResultsScreen
from tests.fake_feed import FakeSegment

SETTLE = APPLY_DELAY_S + 0.3


def make_app(tmp_path, **changes) -> LoadtuiApp:
    plan = LoadPlan(users=40, duration_s=None)
    config = replace(AppConfig.default(plan), runs_dir=tmp_path / "runs", **changes)
    return LoadtuiApp(config, make_segment=FakeSegment)


def keys_of(pane: RoutePane) -> tuple[str, int]:
    return pane.choice.route, pane.users


async def test_starts_with_route_5_beside_route_4_at_40_users(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        panes = app.panes()
        assert [keys_of(p) for p in panes] == [("5", 40), ("4", 40)]
        assert all(p.status == "running" for p in panes)
        assert app.focused is panes[0]


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
async def test_route_and_user_keys_start_one_new_segment(tmp_path, keys, expected):
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.panes()[0]
        first = pane.segment
        await pilot.press(*keys)
        assert pane.status == "changing"
        await pilot.pause(SETTLE)
        assert keys_of(pane) == expected
        assert pane.segment is not first and pane.segment.spec.plan.users == expected[1]
        assert pane.history == [first] and first.ended  # one new segment for the burst


async def test_space_stops_and_starts_the_focused_pane(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.panes()[0]
        await pilot.press("space")
        assert not pane.running and pane.status == "stopped"
        await pilot.press("space")
        await pilot.pause()
        assert pane.running and pane.status == "running" and len(pane.history) == 1


async def test_tab_moves_focus_and_keys_act_on_the_focused_pane(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        first, second = app.panes()
        await pilot.press("tab")
        assert app.focused is second
        await pilot.press("3")
        await pilot.pause(SETTLE)
        assert keys_of(second) == ("4", 100) and keys_of(first) == ("5", 40)


async def test_add_and_close_panes(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("a")
        await pilot.pause()
        panes = app.panes()
        assert len(panes) == 3 and app.focused is panes[2]
        await pilot.press("a", "a")
        await pilot.pause()
        assert len(app.panes()) == 4  # four at most
        closed = app.panes()[3]
        await pilot.press("x")
        await pilot.pause()
        assert len(app.panes()) == 3 and closed.segments()[0] in app.closed_segments
        for _ in range(3):
            await pilot.press("x")
            await pilot.pause()
        assert len(app.panes()) == 1  # the last pane stays


async def test_r_starts_a_fresh_segment_on_the_same_route(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.panes()[0]
        first = pane.segment
        await pilot.press("r")
        await pilot.pause()
        assert pane.segment is not first and keys_of(pane) == ("5", 40)


async def test_e_exports_every_segment_as_a_run_file(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
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


async def test_v_shows_results_and_o_loads_run_files(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("v")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        table = screen.query_one("#results")
        assert table.row_count == 2
        await pilot.press("o")
        await pilot.pause()
        assert table.row_count == 4 and len(screen.loaded) == 2
        await pilot.press("escape")
        assert not isinstance(app.screen, ResultsScreen)


async def test_question_mark_shows_every_key(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help").render())
        for binding in app.BINDINGS:
            assert binding.tooltip in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_q_stops_every_segment_and_exits(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        segments = app.all_segments()
        await pilot.press("q")
        await pilot.pause(0.5)
    assert all(segment.ended for segment in segments)
    assert app.return_value == 0
    # the hard-exit fallback belongs to the CLI's process only: here it would end pytest's
    assert not any(isinstance(thread, threading.Timer) for thread in threading.enumerate())


async def test_stall_banner_names_the_culprit(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        banner = app.panes()[1].query_one("#banner")
        assert banner.display
        assert "STALL" in str(banner.render()) and "sync_inner_function" in str(banner.render())
        assert not app.panes()[0].query_one("#banner").display
