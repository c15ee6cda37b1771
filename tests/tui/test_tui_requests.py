"""loadtui.app with loadtui.cli.options and loadtui.targets.openapi: the TUI asks what the command
line says, of real apps: headers and bodies counted as the app counts them, the target's own
OpenAPI operations under ←/→, a scenario's requests by name, and bad request options refused in one
line before anything starts."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from loadtui.app import LoadtuiApp, with_target_routes
from loadtui.cli import options
from loadtui.cli.parser import build_parser
from loadtui.targets import openapi, scenario
from loadtui.targets.examples import FORMATS
from loadtui.tui.widgets.pane import RoutePane
from tests.apps import accepted, template_counts
from tests.helpers import LOAD, loadtui
from tests.pilot import SETTLE, screen_text, until
from tests.servers import RawServer

pytestmark = [pytest.mark.e2e, LOAD]

BEARER = "Authorization: Bearer s3cret"
UUID = FORMATS["uuid"]
HEADING = ["request", "req/s", "p50", "p99", "errors"]


def tui(*argv: str | Path, tmp_path: Path) -> LoadtuiApp:
    """The TUI as `loadtui ARGV` opens it (the target's routes fetched), in this process."""
    config = options.tui_config(build_parser().parse_args([*map(str, argv)]))
    config = with_target_routes(config)
    return LoadtuiApp(replace(config, hard_exit=False, runs_dir=tmp_path / "runs"))


def requests_of(pane: RoutePane) -> int:
    model = pane.model
    return model.summary().requests if model is not None else 0


def stop_all(app: LoadtuiApp) -> None:
    for run in app.all_runs():
        run.stop()
    for run in app.all_runs():
        run.join(15)


async def test_headers_and_a_body_from_the_command_line_count_as_the_app_counts(shop, tmp_path):
    users = 3
    app = tui(
        "--target", shop, "--route", "/orders", "-H", BEARER, "-d", '{"item": "tea", "qty": 2}',
        "--expect", "201", "--users", users, tmp_path=tmp_path,
    )  # fmt: skip
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.panes()[0]
        await until(pilot, lambda: requests_of(pane) >= 30)
        pane.stop_run()
        await until(pilot, lambda: pane.run.ended)
        summary = pane.model.summary()
        stop_all(app)
    successes = summary.requests - summary.errors
    assert summary.errors == 0 and successes >= 30
    # the app may have counted requests still in flight when the pane stopped: a user each
    assert 0 <= accepted(shop)["orders"] - successes <= users


async def test_arrows_walk_the_targets_openapi_operations_with_examples_filled(shop, tmp_path):
    app = tui("--target", shop, "-H", BEARER, "--users", "2", tmp_path=tmp_path)
    assert "3 operations" in app.config.notice
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.panes()[0]
        assert len(app.panes()) == 1
        asked = []
        for _ in range(3):
            await until(pilot, lambda: requests_of(pane) >= 5)
            (request,) = pane.run.spec.requests()
            asked.append((pane.choice.label, request.name, pane.model.summary().errors))
            await pilot.press("right")
            await pilot.pause(SETTLE)
        assert pane.choice.label == "POST /orders"  # round again
        stop_all(app)
    assert asked == [
        ("POST /orders", "POST /orders", 0),  # the example body, the bearer token
        ("GET /items/{item_id}", "GET /items/1", 0),
        ("GET /count", "GET /count", 0),
    ]
    counted = accepted(shop)
    assert counted["orders"] >= 5 and counted["bodies"][0] == "string"
    assert counted["items"]["1"] >= 5


async def test_a_target_without_openapi_falls_back_to_slash_saying_so_in_the_pane(tmp_path):
    server = RawServer(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    app = tui("--target", f"http://127.0.0.1:{server.port}", "--users", "2", tmp_path=tmp_path)
    assert [choice.route for choice in app.config.routes] == ["/"]
    assert app.config.panes == [(0, 2)]
    notice = app.config.notice
    assert notice.startswith(f"no OpenAPI document at http://127.0.0.1:{server.port} (tried ")
    assert "HTTP 404 x6" in notice and "--openapi URL" in notice and "\n" not in notice
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.panes()[0]
        await until(pilot, lambda: requests_of(pane) >= 3)
        await pilot.pause(1.0)  # a redraw
        text = " ".join(" ".join(screen_text(app).split()).split("│"))
        answered = pane.model.summary()
        stop_all(app)
    assert answered.errors_by_kind["http_404"] == answered.requests >= 3
    assert "/ answered HTTP 404 (" in text and "loaded as a fallback: no OpenAPI document" in text


async def test_a_targets_operations_under_a_prefix_are_asked_once_prefixed(template, tmp_path):
    app = tui("--target", f"{template}/api/v1", "--users", "2", tmp_path=tmp_path)
    assert app.config.notice == f"←/→: the 3 operations of {template}/api/v1/openapi.json"
    before = template_counts(template)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.panes()[0]
        asked = []
        for _ in range(3):
            await until(pilot, lambda: requests_of(pane) >= 5)
            (request,) = pane.run.spec.requests()
            asked.append((request.path, request.body, pane.model.summary().errors))
            await pilot.press("right")
            await pilot.pause(SETTLE)
        stop_all(app)
    after = template_counts(template)
    assert asked == [
        (f"/api/v1/items/{UUID}?day=2024-01-01", None, 0),
        ("/api/v1/login/access-token", b"username=string&password=string&scope=", 0),
        ("/api/v1/files/", None, 0),  # a multipart form: an example file and the note
    ]
    assert after["invalid"] == before["invalid"]
    upload = f"upload.txt:string:{len(openapi.UPLOAD_CONTENT)}"
    assert after["uploads"][upload] - before["uploads"].get(upload, 0) >= 5
    assert after["items"][UUID] - before["items"].get(UUID, 0) >= 5
    assert after["logins"]["string"] - before["logins"].get("string", 0) >= 5


def test_loadtuis_own_demo_server_keeps_its_variants(demo_server, tmp_path):
    app = tui("--target", demo_server.url, tmp_path=tmp_path)
    assert [choice.route for choice in app.config.routes][:3] == ["0", "1", "2"]
    assert [app.config.routes[i].route for i, _ in app.config.panes] == ["5", "4"]
    assert app.config.notice == ""


async def test_a_scenario_shows_its_requests_by_name_then_each_alone(shop, tmp_path):
    (tmp_path / "ids.csv").write_text("id\n7\n8\n")
    mix = tmp_path / "mix.toml"
    mix.write_text(
        'headers = { Authorization = "Bearer s3cret" }\n'
        '[[requests]]\nname = "item"\npath = "/items/{id}"\ndata_file = "ids.csv"\nweight = 3\n'
        '[[requests]]\nname = "order"\npath = "/orders"\njson = { item = "tea", qty = 1 }\n'
        "expect = [201]\n"
    )
    app = tui("--scenario", mix, "--target", shop, "--users", "4", tmp_path=tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.panes()[0]

        def both_named() -> bool:
            found = pane.model.request_stats() if pane.model is not None else []
            return all(s.requests for s in found) and sum(s.requests for s in found) >= 60

        await until(pilot, both_named)
        await pilot.pause(1.5)  # a second's redraw
        text = screen_text(app)
        await pilot.press("right")
        await pilot.pause(SETTLE)
        alone = pane.run.spec.scenario
        stop_all(app)
    rows = {row[0]: row for row in (line.strip("┃│ ").split() for line in text.splitlines()) if row}
    assert rows["request"] == HEADING
    assert len(rows["item"]) == 5 and float(rows["item"][1]) > float(rows["order"][1])  # 3 to 1
    assert rows["order"][-1] == "0" and rows["item"][-1] == "0"  # errors
    assert [spec.name for spec in alone] == ["item"] and pane.choice.label == "item"
    assert alone == (scenario.load(mix)[0],)


async def test_https_targets_are_trusted_as_run_trusts_them(tls_shop, tmp_path):
    url, ca = tls_shop
    result = loadtui("--target", url, "--route", "/items/1")
    assert result.returncode == 1 and result.stderr.strip().splitlines() == [
        f"loadtui: target {url}: its certificate is not trusted (unable to get local issuer "
        "certificate); give --cacert FILE, or -k to accept any certificate"
    ]
    assert accepted(url, ca)["items"] == {}  # nothing was sent
    insecure = tui("--target", url, "-k", tmp_path=tmp_path)
    assert [choice.label for choice in insecure.config.routes][1:] == [
        "GET /items/{item_id}",
        "GET /count",
    ]  # its OpenAPI document, fetched with -k
    app = tui("--target", url, "--cacert", ca, "-H", BEARER, "--users", "2", tmp_path=tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.panes()[0]
        await until(pilot, lambda: requests_of(pane) >= 5)
        errors = pane.model.summary().errors
        stop_all(app)
    assert pane.choice.label == "POST /orders" and errors == 0
    assert accepted(url, ca)["orders"] >= 5


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-H", "nocolon"], "no colon"),
        (["--scenario", "TMP/missing.toml"], "cannot read"),
        (["-d", "x"], "give --route PATH"),
        (["-F", "a=1"], "give --route PATH"),
        (["--route", "/a", "-H", "X-A: b\r\nX-Smuggled: 1"], "control character"),
        (["--route", "/items/{id}"], "no data file"),
        (["--route", "/a", "--scenario", "TMP/mix.toml"], "not both"),
        (["-k"], "https://"),
    ],
)
def test_bad_request_options_stop_the_tui_before_anything_starts(args, words, tmp_path):
    server = RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    (tmp_path / "mix.toml").write_text('[[requests]]\nname = "a"\npath = "/"\n')
    args = [arg.replace("TMP", str(tmp_path)) for arg in args]
    result = loadtui("--target", f"http://127.0.0.1:{server.port}", *args)
    assert result.returncode == 2 and words in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1 and result.stdout == ""
    time.sleep(0.2)
    assert server.received == []


def test_the_scenario_command_writes_the_examples_the_tui_sends(shop, tmp_path):
    result = loadtui("scenario", "--target", shop)
    assert result.returncode == 0, result.stderr
    (tmp_path / "shop.toml").write_text(result.stdout)
    by_name = {spec.name: spec for spec in scenario.load(tmp_path / "shop.toml")}
    assert by_name["POST /orders"].body == b'{"item": "string", "qty": 1}'
    assert ("Content-Type", "application/json") in by_name["POST /orders"].headers
    assert by_name["GET /items/{item_id}"].path == "/items/1"
