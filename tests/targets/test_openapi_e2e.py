"""loadtui.targets.openapi_source and the commands that read a target's operations (`routes`,
`scenario`, the TUI's in tests/tui/test_tui_requests.py) on real servers: the document found where
the app serves it (the common places, the docs page's link, --openapi), its paths under a single
prefix whether the target names the prefix or not, the heartbeat at the server's root, a written
scenario's values accepted by the app, and every unusable --openapi refused in one line."""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from fastapi.openapi.docs import get_swagger_ui_html

from loadtui.app import with_target_routes
from loadtui.cli import options
from loadtui.cli.main import main
from loadtui.cli.parser import build_parser
from loadtui.probe import Probe
from loadtui.run.rundoc import RunDocument
from loadtui.targets.examples import FORMATS
from loadtui.targets.openapi_source import MAX_TRIES, OpenAPIError, find
from loadtui.targets.target import parse_target
from tests.apps import free_port, template_counts
from tests.helpers import loadtui, wait_for

pytestmark = pytest.mark.e2e

UUID = FORMATS["uuid"]
OPERATIONS = [
    "GET     /api/v1/items/{item_id}",
    "POST    /api/v1/login/access-token",
    "POST    /api/v1/files/",
]


def listed(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.split(" ", 1)[0] in ("GET", "POST")]


def test_routes_lists_the_operations_under_one_prefix_from_the_root_or_the_prefix(template):
    document = f"{template}/api/v1/openapi.json"
    for argv in (
        ["--target", template],
        ["--target", f"{template}/api/v1"],
        ["--target", f"{template}/api/v1", "--openapi", "/api/v1/openapi.json"],
        ["--target", template, "--openapi", document],
    ):
        result = loadtui("routes", *argv)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[0] == f"# 3 operations, from {document}"
        assert listed(result.stdout) == OPERATIONS
        assert "path item_id: string (uuid), required" in result.stdout
        assert "body application/x-www-form-urlencoded: username, password, scope" in result.stdout


def test_routes_reads_a_saved_document_given_as_a_file(template, tmp_path):
    saved = tmp_path / "openapi.json"
    saved.write_bytes(httpx.get(f"{template}/api/v1/openapi.json", timeout=5).content)
    result = loadtui("routes", "--target", f"{template}/api/v1", "--openapi", saved)
    assert result.returncode == 0, result.stderr
    assert listed(result.stdout) == OPERATIONS


def scenario_of(template: str, tmp_path: Path) -> Path:
    result = loadtui("scenario", "--target", f"{template}/api/v1")
    assert result.returncode == 0, result.stderr
    written = tmp_path / "template.toml"
    written.write_text(result.stdout)
    return written


def test_the_scenario_fills_a_uuid_and_a_date_and_writes_the_form_login(template, tmp_path):
    written = tomllib.loads(scenario_of(template, tmp_path).read_text())["requests"]
    items, login, upload = written
    assert items["path"] == f"/api/v1/items/{UUID}?day=2024-01-01"
    assert login["path"] == "/api/v1/login/access-token"
    assert login["form"] == {"username": "string", "password": "string", "scope": ""}
    assert upload["multipart"] == {"file": "@upload.txt", "note": "string"}


@pytest.mark.xdist_group("load")
def test_a_written_scenario_runs_as_the_app_accepts_it(template, tmp_path):
    """Needs the scenario loader's `form` key (issue 23 part 2): fails until it is merged."""
    before = template_counts(template)
    out = tmp_path / "run.json"
    (tmp_path / "upload.txt").write_text("hello")  # the file the scenario says to put beside it
    result = loadtui(
        "run", "--scenario", scenario_of(template, tmp_path), "--target", template,
        "--users", "2", "--duration", "2", "--json", out,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = RunDocument.model_validate_json(out.read_text())
    after = template_counts(template)
    by_name = {r.name: r for r in doc.requests}
    logins = by_name["POST /api/v1/login/access-token"]
    items = by_name["GET /api/v1/items/{item_id}"]
    uploads = by_name["POST /api/v1/files/"]
    assert doc.summary.errors == 0 and min(logins.requests, items.requests, uploads.requests) > 0
    assert after["invalid"] == before["invalid"]
    counted_logins = after["logins"].get("string", 0) - before["logins"].get("string", 0)
    counted_items = after["items"].get(UUID, 0) - before["items"].get(UUID, 0)
    key = "upload.txt:string:5"
    counted_uploads = after["uploads"].get(key, 0) - before["uploads"].get(key, 0)
    counted = counted_logins + counted_items + counted_uploads
    # the app may count a request still in flight at the end: one a user at most
    assert 0 <= counted - doc.summary.requests <= 2


@pytest.mark.xdist_group("load")
def test_the_heartbeat_is_asked_at_the_servers_root_under_a_prefixed_target(template, tmp_path):
    out = tmp_path / "run.json"
    result = loadtui(
        "run", f"/items/{UUID}?day=2024-01-01", "--target", f"{template}/api/v1",
        "--users", "2", "--duration", "2", "--json", out,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = RunDocument.model_validate_json(out.read_text())
    assert doc.target.route == f"/api/v1/items/{UUID}?day=2024-01-01"
    assert doc.summary.errors == 0
    beats = [s.server.heartbeat_ms_max for s in doc.timeline if s.server is not None]
    assert any(ms is not None for ms in beats), beats


def test_the_tui_asks_the_operations_of_the_document_openapi_names(template):
    args = build_parser().parse_args(
        ["--target", f"{template}/api/v1", "--openapi", "/api/v1/openapi.json"]
    )
    config = with_target_routes(options.tui_config(args))
    assert [choice.label for choice in config.routes] == [" ".join(o.split()) for o in OPERATIONS]
    assert config.notice == f"←/→: the 3 operations of {template}/api/v1/openapi.json"
    assert config.target is not None and config.target.url == template  # paths from the root


# ---- --openapi that cannot be used: one line, exit 2, nothing else --------------------------
def said(argv: list[str]) -> tuple[int, str, str]:
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(argv)
    return code, err.getvalue(), out.getvalue()


def test_an_unusable_openapi_is_one_line_and_exit_2_for_every_command(template, tmp_path):
    (tmp_path / "swagger.json").write_text(json.dumps({"swagger": "2.0", "paths": {}}))
    with (tmp_path / "huge.json").open("wb") as huge:
        huge.truncate(9 * 2**20)
    cases = [
        (f"http://127.0.0.1:{free_port()}/openapi.json", "ConnectError"),
        ("/docs", "/docs is not JSON"),
        ("/nowhere.json", "/nowhere.json answered HTTP 404"),
        (str(tmp_path / "swagger.json"), "is Swagger 2, not OpenAPI 3"),
        (str(tmp_path / "huge.json"), "is larger than 8 MB"),
        ("http://192.0.2.1/openapi.json", "192.0.2.1 is not loopback"),
    ]
    for given, words in cases:
        for command in (["routes"], ["scenario"], []):
            code, err, out = said([*command, "--target", template, "--openapi", given])
            assert code == 2 and words in err, (command, given, err)
            assert len(err.splitlines()) == 1 and out == ""


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["routes", "--openapi", "/o.json"], "give --target too"),
        (["--target", "http://127.0.0.1:9", "--route", "/a", "--openapi", "/o"], "leave out"),
    ],
)  # fmt: skip
def test_openapi_needs_a_target_whose_operations_it_gives(argv, words):
    code, err, _ = said(argv)
    assert code == 2 and words in err and len(err.splitlines()) == 1


# ---- the search, bounded, on a real HTTP server ------------------------------------------------
class Pages(http.server.BaseHTTPRequestHandler):
    pages: ClassVar[dict[str, bytes]] = {}
    asked: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.asked.append(self.path)
        body = self.pages.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def serving(pages: dict[str, bytes]) -> Iterator[tuple[str, list[str]]]:
    handler = type("Handler", (Pages,), {"pages": pages, "asked": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", handler.asked
    finally:
        server.shutdown()
        server.server_close()


def docs_page(url: str) -> bytes:
    return get_swagger_ui_html(openapi_url=url, title="app").body


DOCUMENT = json.dumps({"openapi": "3.1.0", "paths": {"/x": {"get": {}}}}).encode()


def test_the_document_is_found_through_the_docs_pages_link():
    pages = {"/docs": docs_page("/internal/spec.json"), "/internal/spec.json": DOCUMENT}
    with serving(pages) as (url, asked):
        found = find(parse_target(url, "/"))
    assert found.where == f"{url}/internal/spec.json" and found.document["paths"] == {
        "/x": {"get": {}}
    }
    assert asked == [
        "/openapi.json", "/api/openapi.json", "/api/v1/openapi.json", "/v1/openapi.json",
        "/docs", "/internal/spec.json",
    ]  # fmt: skip


def test_the_search_asks_no_other_host_and_stops_after_its_tries():
    remote = docs_page("http://192.0.2.1/openapi.json")
    # every page links to two more documents that are not OpenAPI
    pages = {
        **{f"/{p}": remote for p in ("docs", "redoc", "api/docs", "api/redoc")},
        **{f"/n{i}": b"{}" for i in range(40)},
    }
    pages["/redoc"] = b" ".join(f"url: '/n{i}'".encode() for i in range(40))
    with serving(pages) as (url, asked), pytest.raises(OpenAPIError) as refused:
        find(parse_target(f"{url}/api", "/"))
    assert len(asked) <= MAX_TRIES and not any("192.0.2.1" in path for path in asked)
    assert str(refused.value).startswith(f"no OpenAPI document at {url} (tried /api/openapi.json,")
    assert "HTTP 404 x" in str(refused.value) and "\n" not in str(refused.value)


def ignored(*_: object) -> None:
    pass


def test_the_heartbeat_is_asked_under_the_prefix_when_only_the_prefix_is_served():
    """A proxy that passes only the target's path: the root's 404 is not the last word."""
    pages = {"/api/heartbeat": json.dumps({"pid": 1}).encode()}
    with serving(pages) as (url, asked):
        probe = Probe(parse_target(f"{url}/api", "/"), *[ignored] * 4)
        probe.start()
        try:
            assert wait_for(lambda: probe.heartbeat.ever, timeout=10)
        finally:
            probe.stop()
    beats = [path for path in asked if path.endswith("/heartbeat")]
    assert beats[0] == "/heartbeat" and set(beats[1:]) == {"/api/heartbeat"}
    assert not probe.heartbeat.absent
