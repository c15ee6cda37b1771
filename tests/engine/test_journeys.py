"""Journeys end to end (loadtui.engine.journey, extract, cookies; targets/scenario): real apps
written here, served by uvicorn: an OAuth2 password-form login issuing a token per login and
routes behind it, items created and read back by the id the app returned, and a Starlette
session kept in a cookie. The apps count what they saw; loadtui's run file is compared with it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from loadtui import exits
from loadtui.run import runfile
from tests.apps import BEARER, LOGIN, SESSION_APP, accepted, counted, serve_app
from tests.helpers import loadtui
from tests.servers import RawServer

pytestmark = pytest.mark.e2e  # counts, not timings: beside other tests


def run(tmp_path: Path, url: str, scenario: str, *args: str, users: int = 4):
    path = tmp_path / "journey.toml"
    path.write_text(scenario)
    out = tmp_path / "run.json"
    result = loadtui(
        "run", "--scenario", path, "--target", url, "--users", str(users), "--spawn-rate", "100",
        "--duration", "2", "--json", out, "--force", *args,
    )  # fmt: skip
    return result, runfile.load(out) if out.exists() else None


def test_a_login_once_per_user_then_its_token_on_every_request(login_app, tmp_path):
    scenario = LOGIN.format(password="pw") + f'[[requests]]\nname = "me"\npath = "/me"\n{BEARER}'
    result, doc = run(tmp_path, login_app, scenario)
    assert result.returncode == exits.OK, result.stderr
    by_name = {r.name: r for r in doc.requests}
    app = counted(login_app)
    assert app["logins"] == 4 and by_name["login"].requests == 4  # one a user, a name of its own
    assert app["unauthorized"] == 0 and by_name["me"].errors == 0
    # a request in flight when the run ended reached the app but was never answered: a user each
    assert 0 <= app["authorized"] - by_name["me"].requests <= 4
    assert by_name["me"].requests > 4
    assert doc.summary.users_not_through_setup == 0
    # each user went on on the connection it logged in on, as a browser keeps its connection
    assert app["ports"]["me"] == app["ports"]["login"] and len(app["ports"]["login"]) == 4


def test_a_flow_reads_back_the_id_it_created_and_an_empty_extraction_is_its_own_error(
    login_app, tmp_path
):
    scenario = LOGIN.format(password="pw") + (
        f'[[flow]]\nname = "create"\nmethod = "POST"\npath = "/items"\n{BEARER}'
        'extract = { item_id = "json:items.0.id" }\n'
        f'[[flow]]\nname = "read"\npath = "/items/{{{{item_id}}}}"\n{BEARER}'
        f'[[flow]]\nname = "me"\npath = "/me"\n{BEARER}extract = {{ nothing = "json:absent" }}\n'
    )
    result, doc = run(tmp_path, login_app, scenario, "--think-min", "0", "--think-max", "0")
    assert result.returncode == exits.OK, result.stderr
    by_name = {r.name: r for r in doc.requests}
    app = counted(login_app)
    assert app["missing"] == 0 and by_name["read"].errors == 0
    assert by_name["read"].requests > 10
    assert 0 <= app["read"] - by_name["read"].requests <= 4
    # in order: create, read, me, create, ...: as many of each, give or take the one in flight
    assert abs(by_name["create"].requests - by_name["me"].requests) <= 4
    assert by_name["me"].errors_by_kind == {"extract": by_name["me"].requests}
    assert doc.summary.errors_by_kind == {"extract": by_name["me"].requests}


def test_a_setup_that_fails_is_retried_with_back_off_and_the_run_says_who_never_got_through(
    login_app, tmp_path
):
    scenario = LOGIN.format(password="wrong") + f'[[requests]]\nname = "me"\npath = "/me"\n{BEARER}'
    result, doc = run(tmp_path, login_app, scenario, users=3)
    assert result.returncode == exits.FAILED, result.stderr  # nothing succeeded
    assert doc.summary.users_not_through_setup == 3
    assert "setup      3 users never got through setup (each retried it)" in result.stdout
    by_name = {r.name: r for r in doc.requests}
    assert by_name["me"].requests == 0 and counted(login_app)["authorized"] == 0
    # back-off 0.1 s, 0.2, 0.4, 0.8, 1.6: in 2 s no user tries more than 5 times
    assert 3 * 2 <= by_name["login"].requests <= 3 * 5
    assert by_name["login"].errors_by_kind == {"http_400": by_name["login"].requests}


def test_the_cookie_jar_carries_a_session_and_no_cookies_shows_the_difference(tmp_path):
    scenario = (
        '[[setup]]\nname = "start"\nmethod = "POST"\npath = "/start"\n'
        '[[requests]]\nname = "me"\npath = "/me"\n'
    )
    with serve_app(SESSION_APP, tmp_path, ready_path="/count") as app:
        result, doc = run(tmp_path, app.url, scenario, users=2)
        assert result.returncode == exits.OK, result.stderr
        seen = counted(app.url)
        by_name = {r.name: r for r in doc.requests}
        assert seen["sessions"] == 2 and seen["unknown"] == 0 and by_name["me"].errors == 0
        assert 0 <= seen["known"] - by_name["me"].requests <= 2

        result, doc = run(tmp_path, app.url, scenario, "--no-cookies", users=2)
        assert result.returncode == exits.OK, result.stderr  # the setup succeeded
        after = counted(app.url)
        by_name = {r.name: r for r in doc.requests}
        assert after["sessions"] - seen["sessions"] == 2 and after["known"] == seen["known"]
        me = by_name["me"]
        assert me.requests > 0 and me.errors_by_kind == {"http_401": me.requests}
        assert 0 <= after["unknown"] - me.requests <= 2


@pytest.mark.parametrize(
    ("scenario", "words"),
    [
        (
            '[[requests]]\nname = "a"\npath = "/"\nextract = { t = "json:" }\n',
            "json: names nothing",
        ),
        ('[[requests]]\nname = "a"\npath = "/"\nextract = { t = "xml:a" }\n', "json:, header: or"),
        ('[[requests]]\nname = "a"\npath = "/{{t}}"\n', "no data file"),
        (
            '[[setup]]\nname = "s"\npath = "/"\nheaders = { A = "{{t}}" }\n'
            'extract = { t = "json:t" }\n[[requests]]\nname = "a"\npath = "/"\n',
            "setup step 's' uses {{t}}, which only it sets",
        ),
        (
            '[[flow]]\nname = "a"\npath = "/{{t}}"\n'
            '[[flow]]\nname = "b"\npath = "/"\nextract = { t = "json:t" }\n',
            "'a' uses {{t}} before any step sets it",
        ),
    ],
)
def test_a_journey_that_cannot_work_is_one_line_and_exit_2_before_any_request(
    tmp_path, scenario, words
):
    server = RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    path = tmp_path / "bad.toml"
    path.write_text(scenario)
    result = loadtui("run", "--scenario", path, "--target", f"http://127.0.0.1:{server.port}")
    assert result.returncode == 2 and words in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1
    time.sleep(0.2)
    assert server.received == []


def test_in_open_loop_each_connection_logs_in_once_off_the_schedule(login_app, tmp_path):
    scenario = LOGIN.format(password="pw") + f'[[requests]]\nname = "me"\npath = "/me"\n{BEARER}'
    result, doc = run(tmp_path, login_app, scenario, "--rate", "40", users=3)
    assert result.returncode == exits.OK, result.stderr
    by_name = {r.name: r for r in doc.requests}
    app = counted(login_app)
    assert app["logins"] == 3 and by_name["login"].requests == 3  # one a connection
    assert app["unauthorized"] == 0 and by_name["me"].errors == 0
    assert 0 <= app["authorized"] - by_name["me"].requests <= 3
    # the schedule is the mix's: 40 a second for 2 s, whatever the logins took
    assert 60 <= by_name["me"].requests + (doc.summary.unsent or 0) <= 81
    assert doc.summary.users_not_through_setup == 0


def test_a_journey_over_https_keeps_its_connection_and_extracts(tls_shop, tmp_path):
    url, ca = tls_shop
    scenario = (
        '[[setup]]\nname = "first"\npath = "/items/7"\nextract = { id = "json:id" }\n'
        '[[requests]]\nname = "again"\npath = "/items/{{id}}"\n'
    )
    result, doc = run(tmp_path, url, scenario, "--cacert", str(ca), users=2)
    assert result.returncode == exits.OK, result.stderr
    by_name = {r.name: r for r in doc.requests}
    assert by_name["first"].requests == 2 and doc.summary.errors == 0
    # every request asked for item 7: the id the setup extracted
    assert set(accepted(url, ca)["items"]) == {"7"}
    assert by_name["again"].requests > 2
