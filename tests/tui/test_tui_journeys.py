"""loadtui.app with a journey (loadtui.targets.scenario, loadtui.engine.journey): the TUI runs a
scenario's setup once per user, in the whole mix and before each request alone, against a real
app that counts its logins."""

from __future__ import annotations

import pytest

from tests.apps import BEARER, LOGIN, counted
from tests.helpers import LOAD
from tests.pilot import SETTLE, until
from tests.tui.test_tui_requests import requests_of, stop_all, tui

pytestmark = [pytest.mark.e2e, LOAD]

JOURNEY = LOGIN.format(password="pw") + f'[[requests]]\nname = "me"\npath = "/me"\n{BEARER}'


async def test_the_tui_logs_each_user_in_once_in_the_mix_and_before_a_request_alone(
    login_app, tmp_path
):
    path = tmp_path / "journey.toml"
    path.write_text(JOURNEY)
    app = tui("--scenario", path, "--target", login_app, "--users", "3", tmp_path=tmp_path)
    assert [choice.label for choice in app.config.routes] == ["journey.toml", "me"]
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.panes()[0]
        await until(pilot, lambda: requests_of(pane) >= 20)
        whole = counted(login_app)
        await pilot.press("right")  # "me" alone: a new run, its users log in first
        await pilot.pause(SETTLE)
        await until(pilot, lambda: requests_of(pane) >= 20)
        alone = [spec.name for spec in pane.run.spec.scenario]
        summary = pane.model.summary()
        stop_all(app)
    assert whole["logins"] == 3 and whole["unauthorized"] == 0
    assert alone == ["login", "me"]
    assert counted(login_app)["logins"] == 6 and counted(login_app)["unauthorized"] == 0
    assert summary.users_not_through_setup == 0 and summary.errors == 0
