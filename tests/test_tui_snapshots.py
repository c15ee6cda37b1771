"""Snapshot tests of the screen, fed by the deterministic fake feed.

Update after an intended change with `pytest tests/test_tui_snapshots.py --snapshot-update`
and look at the SVGs under tests/__snapshots__/ before committing them.
"""

from __future__ import annotations

import pytest

from tests.test_tui import SETTLE, make_app


async def _settle(pilot) -> None:
    await pilot.pause(0.3)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_two_panes(snap_compare, tmp_path, size):
    assert snap_compare(make_app(tmp_path), terminal_size=size, run_before=_settle)


def test_four_panes_wide(snap_compare, tmp_path):
    async def add_two(pilot) -> None:
        await pilot.press("a", "a")
        await pilot.pause(SETTLE)

    assert snap_compare(make_app(tmp_path), terminal_size=(160, 48), run_before=add_two)


def test_help_screen(snap_compare, tmp_path):
    assert snap_compare(make_app(tmp_path), terminal_size=(80, 24), press=["question_mark"])


def test_no_color(snap_compare, tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(tmp_path)
    assert app.no_color
    assert snap_compare(app, terminal_size=(80, 24), run_before=_settle)
