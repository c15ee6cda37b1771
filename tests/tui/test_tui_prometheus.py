"""loadtui.app with loadtui.run.exporter (--prometheus-port): while the TUI runs, the endpoint
serves its pane's real run against a real app, and, once the pane is stopped, the run's final
figures, equal to what the pane's run model holds."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadtui.app import LoadtuiApp
from loadtui.cli import options, resources
from loadtui.cli.parser import build_parser
from tests.apps import received
from tests.pilot import until

pytestmark = pytest.mark.e2e

USERS = 2


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(url, timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_the_endpoint_serves_the_panes_run_while_the_tui_runs(counter, tmp_path):
    args = build_parser().parse_args(
        ["--target", counter, "--route", "/hit", "--users", str(USERS), "--prometheus-port", "0"]
    )
    config = options.tui_config(args)
    live = resources.prometheus(args, "loadtui")
    assert live is not None
    try:
        app = LoadtuiApp(replace(config, hard_exit=False, runs_dir=tmp_path / "runs", live=live))
        async with app.run_test(size=(120, 40)) as pilot:
            pane = app.panes()[0]
            await until(pilot, lambda: pane.model is not None and pane.model.summary().requests)
            model = pane.model
            run = (("run_id", model.run_id),)
            requests = ("loadtui_client_requests_total", (("name", "/hit"), *run))
            await until(pilot, lambda: scrape(live.url).get(requests, 0) >= 5)
            assert scrape(live.url)[("loadtui_client_run_done", run)] == 0
            pane.stop_run()
            await until(pilot, lambda: pane.run.ended)
            final = scrape(live.url)
            summary = model.summary()
            for other in app.all_runs():
                other.stop()
    finally:
        live.close()
    assert final[("loadtui_client_run_done", run)] == 1
    assert final[requests] == summary.requests >= 5
    assert final[("loadtui_client_request_duration_seconds_count", (("name", "/hit"), *run))] == (
        summary.requests
    )
    assert summary.errors == 0
    # the app may have counted requests still in flight when the pane stopped: a user each
    assert 0 <= received(counter)["hits"] - summary.requests <= USERS
