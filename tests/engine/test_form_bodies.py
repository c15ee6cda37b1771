"""Bodies as curl sends them, end to end: loadtui's CLI against a real FastAPI app with a ``Form``
login and an ``UploadFile`` upload. The app counts what it accepted (and the
size and content of every upload): that count is the referee of loadtui's successes. Bad bodies
are refused by the real CLI before a byte is sent."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loadtui import exits
from loadtui.run import runfile
from loadtui.run.rundoc import RunDocument
from tests.apps import serve_app
from tests.helpers import loadtui
from tests.servers import RawServer

pytestmark = pytest.mark.e2e  # counts, not timings: beside other tests

FORMS = """
    from fastapi import FastAPI, Form, Header, HTTPException, UploadFile

    app = FastAPI()
    counted = {"logins": 0, "uploads": 0, "sizes": [], "notes": [], "types": []}
    PASSWORDS = {"u": "p", "ann": "p&ss wörd=1+2", "bob": "ünïcode %41"}


    @app.post("/login")
    async def login(username: str = Form(), password: str = Form(), x_user: str = Header("")):
        if PASSWORDS.get(username) != password or x_user not in ("", username):
            raise HTTPException(401)
        counted["logins"] += 1
        return {"user": username}


    @app.post("/upload")
    async def upload(file: UploadFile, note: str = Form()):
        content = await file.read()
        counted["uploads"] += 1
        counted["sizes"] = sorted(set(counted["sizes"]) | {len(content)})
        counted["notes"] = sorted(set(counted["notes"]) | {note})
        counted["types"] = sorted(set(counted["types"]) | {f"{file.filename} {file.content_type}"})
        return {"size": len(content)}


    @app.get("/count")
    async def count():
        return counted
"""

USERS = 3  # a request in flight when a run ends reached the app unanswered: at most one a user


@pytest.fixture
def forms(tmp_path: Path) -> Iterator[str]:
    with serve_app(FORMS, tmp_path, ready_path="/count") as app:
        yield app.url


def counted(url: str) -> dict:
    return httpx.get(f"{url}/count", timeout=5).json()


def run(url: str, out: Path, *args: str | Path) -> RunDocument:
    result = loadtui(
        "run", *args, "--target", url, "--users", USERS, "--duration", "2", "--json", out
    )  # fmt: skip
    assert result.returncode == exits.OK, result.stderr
    return runfile.load(out)


def test_a_form_login_as_curl_sends_it_is_accepted_as_often_as_loadtui_counts(forms, tmp_path):
    doc = run(forms, tmp_path / "run.json", "/login", "-d", "username=u&password=p")
    summary = doc.summary
    assert summary.requests > 0 and summary.errors == 0, summary.errors_by_kind
    assert 0 <= counted(forms)["logins"] - summary.requests <= USERS


def test_data_urlencode_and_data_file_values_in_body_and_header(forms, tmp_path):
    rows = tmp_path / "users.jsonl"
    rows.write_text(
        "".join(json.dumps({"u": u, "p": p}) + "\n" for u, p in [("ann", "p&ss wörd=1+2")] * 2)
        + json.dumps({"u": "bob", "p": "ünïcode %41"})
        + "\n"
    )
    doc = run(
        forms, tmp_path / "run.json", "/login", "--data-urlencode", "username={{u}}",
        "--data-urlencode", "password={{p}}", "-H", "X-User: {{u}}", "--data-file", rows,
    )  # fmt: skip
    assert doc.summary.requests > 0 and doc.summary.errors == 0, doc.summary.errors_by_kind
    assert 0 <= counted(forms)["logins"] - doc.summary.requests <= USERS


def test_a_multipart_upload_is_counted_and_sized_by_the_app(forms, tmp_path):
    upload = tmp_path / "photo.png"
    upload.write_bytes(bytes(range(256)) * 40 + b"\r\n--")
    doc = run(forms, tmp_path / "run.json", "/upload", "-F", f"file=@{upload}", "-F", "note=hi")
    assert doc.summary.requests > 0 and doc.summary.errors == 0, doc.summary.errors_by_kind
    app = counted(forms)
    assert 0 <= app["uploads"] - doc.summary.requests <= USERS
    assert app["sizes"] == [10_244] and app["notes"] == ["hi"]
    assert app["types"] == ["photo.png image/png"]


def test_a_scenario_with_form_and_multipart_steps(forms, tmp_path):
    (tmp_path / "upload.bin").write_bytes(b"\x00" * 5000)
    (tmp_path / "users.csv").write_text("password\np&ss wörd=1+2\n")
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        '[[requests]]\nname = "login"\npath = "/login"\ndata_file = "users.csv"\n'
        'form = { username = "ann", password = "{{password}}" }\n'
        '[[requests]]\nname = "upload"\npath = "/upload"\n'
        'multipart = { note = "from a scenario", file = "@upload.bin" }\n'
    )
    doc = run(forms, tmp_path / "run.json", "--scenario", scenario)
    by_name = {r.name: r for r in doc.requests}
    assert doc.summary.errors == 0, doc.summary.errors_by_kind
    assert by_name["login"].requests > 0 and by_name["upload"].requests > 0
    app = counted(forms)
    unanswered = [
        app["logins"] - by_name["login"].requests,
        app["uploads"] - by_name["upload"].requests,
    ]
    assert min(unanswered) >= 0 and sum(unanswered) <= USERS, unanswered
    assert app["sizes"] == [5000] and app["notes"] == ["from a scenario"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-F", "file=@/no/such/file"], "-F file=@/no/such/file: cannot read /no/such/file"),
        (["-F", "file=@<directory>"], "Is a directory"),
        (["-F", "novalue"], "-F 'novalue': give it as name=value or name=@file"),
        (["-F", "a=1", "-d", "b=2"], "-F sends a multipart form: leave out -d"),
        (["--data-urlencode", "@/no/such/file"], "--data-urlencode @/no/such/file: cannot read"),
        (["-H", "Authorization: Bearer {{tok}}"], "names tok but has no data file"),
        (["--scenario", "<two_bodies>"], "give one body key of data, json, form, multipart"),
        (["--scenario", "<list_value>"], "form field 'a' must be text, a number or true/false"),
    ],
)
def test_bad_bodies_are_one_line_and_exit_2_before_any_connection(tmp_path, args, words):
    two_bodies = tmp_path / "two.toml"
    two_bodies.write_text('[[requests]]\nname = "a"\npath = "/a"\ndata = "x"\nform = { a = "1" }\n')
    list_value = tmp_path / "list.toml"
    list_value.write_text('[[requests]]\nname = "a"\npath = "/a"\nform = { a = [1] }\n')
    paths = {"directory": tmp_path, "two_bodies": two_bodies, "list_value": list_value}
    for name, path in paths.items():
        args = [arg.replace(f"<{name}>", str(path)) for arg in args]
    if "--scenario" not in args:
        args.insert(0, "/a")
    server = RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    result = loadtui("run", *args, "--target", f"http://127.0.0.1:{server.port}", "--duration", "1")
    assert result.returncode == exits.USAGE, result.stderr
    assert words in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
    time.sleep(0.2)
    assert server.received == []
