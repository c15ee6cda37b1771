"""loadtui.app and loadtui.tui.widgets: snapshots of the screen at 80x24 and 160x48 (and two
panes side by side at 120x30), fed by the deterministic fake feed.

Update after an intended change with `pytest tests/tui/test_tui_snapshots.py --snapshot-update`
and look at every SVG under tests/tui/__snapshots__/ before committing them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pilot import SETTLE, hostile_app
from tests.pilot import make_app as make_any_app

SIZES = pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])


def make_app(tmp_path):
    # a relative runs/ (nothing is written here): the screens name it, the same every time
    return make_any_app(tmp_path, runs_dir=Path("runs"))


async def _settle(pilot) -> None:
    await pilot.pause(0.3)


def _keys(*keys: str):
    async def run(pilot) -> None:
        await pilot.pause(0.3)
        await pilot.press(*keys)
        await pilot.pause(SETTLE)

    return run


@SIZES
def test_two_panes(snap_compare, tmp_path, size):
    assert snap_compare(make_app(tmp_path), terminal_size=size, run_before=_settle)


def test_two_panes_side_by_side_at_their_narrowest(snap_compare, tmp_path):
    """120x30: two panes of 56 columns inside, each figure line on one line of its own."""
    assert snap_compare(make_app(tmp_path), terminal_size=(120, 30), run_before=_settle)


def test_four_panes_wide(snap_compare, tmp_path):
    assert snap_compare(make_app(tmp_path), terminal_size=(160, 48), run_before=_keys("a", "a"))


@SIZES
def test_a_stopped_pane_keeps_its_figures(snap_compare, tmp_path, size):
    assert snap_compare(make_app(tmp_path), terminal_size=size, run_before=_keys("space"))


@SIZES
def test_help_screen(snap_compare, tmp_path, size):
    assert snap_compare(make_app(tmp_path), terminal_size=size, run_before=_keys("question_mark"))


@SIZES
def test_results_of_runs_finished_and_running(snap_compare, tmp_path, size):
    app = make_app(tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=_keys("space", "v"))


@SIZES
def test_verdicts_in_full(snap_compare, tmp_path, size):
    assert snap_compare(make_app(tmp_path), terminal_size=size, run_before=_keys("tab", "d"))


@SIZES
def test_quit_asks_about_unsaved_runs(snap_compare, tmp_path, size):
    assert snap_compare(make_app(tmp_path), terminal_size=size, run_before=_keys("q"))


@SIZES
def test_routes_that_look_like_markup(snap_compare, tmp_path, size):
    assert snap_compare(
        hostile_app(tmp_path, runs_dir=Path("runs")), terminal_size=size, run_before=_settle
    )


def test_no_color(snap_compare, tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(tmp_path)
    assert app.no_color
    assert snap_compare(app, terminal_size=(80, 24), run_before=_settle)
