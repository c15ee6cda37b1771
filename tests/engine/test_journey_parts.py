"""The parts of a journey without a server: extraction specs and paths, the cookie jar (the
standard library's, behind loadtui's cache), a user's place in its journey and its built
requests, and a scenario file's journey checked before any work. Responses are real HTTP bytes
fed to the engine's own parser."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from loadtui.engine import extract
from loadtui.engine.cookies import Jar
from loadtui.engine.journey import Journey, UserJourney
from loadtui.engine.messages import EngineRequest
from loadtui.engine.request_spec import Personal, RequestSpec, SpecError
from loadtui.engine.transport import CapturingConnection, CookieConnection, HttpConnection
from loadtui.targets import scenario


# ---- extraction --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("json:", "json: names nothing"),
        ("json:a..b", "an empty step"),
        ("xml:a", "json:, header: or cookie:"),
        ("access_token", "json:, header: or cookie:"),
        ("header:Bad Name", "is not a header name"),
        ("cookie:", "cookie: names nothing"),
    ],
)
def test_an_extraction_that_does_not_parse_is_one_line(text, words):
    with pytest.raises(SpecError, match=words):
        extract.parse("token", text)


def test_a_variable_name_must_be_a_name():
    with pytest.raises(SpecError, match="not a variable name"):
        extract.parse("a-b", "json:a")


BODY = b'{"access_token": "t1", "items": [{"id": 7}, {"id": "x"}], "n": null, "ok": true}'


@pytest.mark.parametrize(
    ("path", "found"),
    [
        ("access_token", "t1"),
        ("items.0.id", 7),
        ("items.1.id", "x"),
        ("ok", True),
        ("items.2.id", None),  # past the end
        ("items.first", None),  # a list is indexed by number
        ("items", None),  # not a string, number or boolean
        ("n", None),  # null finds nothing
        ("absent", None),
        ("access_token.deeper", None),
    ],
)
def test_json_paths(path, found):
    extraction = extract.parse("v", f"json:{path}")
    assert extract.apply(extraction, [], extract.document(BODY)) == found


def test_a_body_that_is_not_json_finds_nothing():
    assert extract.apply(extract.parse("v", "json:a"), [], extract.document(b"<html>")) is None


def test_headers_by_any_case_and_cookies_by_name():
    headers = [
        (b"location", b"/items/9"),
        (b"Set-Cookie", b"theme=dark; Path=/"),
        (b"set-cookie", b'session="a b"; HttpOnly; Max-Age=60'),
    ]
    assert extract.apply(extract.parse("v", "header:Location"), headers, None) == "/items/9"
    assert extract.apply(extract.parse("v", "header:X-None"), headers, None) is None
    assert extract.apply(extract.parse("v", "cookie:session"), headers, None) == "a b"
    assert extract.apply(extract.parse("v", "cookie:other"), headers, None) is None


# ---- the cookie jar -------------------------------------------------------------------------
def test_a_cookie_goes_back_to_its_path_and_not_elsewhere():
    jar = Jar("http://127.0.0.1:8000")
    assert jar.take("/app/login", [b"sid=1; Path=/app", b"all=2; Path=/"])
    assert jar.header("/app/x") in ("sid=1; all=2", "all=2; sid=1")
    assert jar.header("/other") == "all=2"
    assert not jar.take("/app/login", [b"sid=1; Path=/app"])  # the same again: no change
    assert jar.take("/app/login", [b"sid=3; Path=/app"])
    assert "sid=3" in jar.header("/app/")


def test_a_secure_cookie_goes_only_over_tls():
    plain, tls = Jar("http://127.0.0.1:8000"), Jar("https://127.0.0.1:8443")
    for jar in (plain, tls):
        jar.take("/", [b"s=1; Secure; Path=/"])
    assert tls.header("/") == "s=1"
    assert plain.header("/") is None


def test_max_age_zero_removes_a_cookie_and_an_expiry_is_noticed(monkeypatch):
    jar = Jar("http://127.0.0.1:8000")
    jar.take("/", [b"a=1; Max-Age=0", b"b=2; Max-Age=60", b"c=3"])
    assert jar.header("/") in ("b=2; c=3", "c=3; b=2")
    assert jar.next_expiry is not None and not jar.expired()
    later = time.time() + 120
    monkeypatch.setattr(time, "time", lambda: later)
    assert jar.expired()  # b has gone
    assert jar.header("/") == "c=3"


# ---- a user's journey --------------------------------------------------------------------------
class Owner:
    def __init__(self) -> None:
        self.statuses: list[int] = []

    def on_response(self, status: int) -> None:
        self.statuses.append(status)

    def on_failure(self, kind: str) -> None:
        raise AssertionError(kind)


def response(conn: CapturingConnection, body: bytes, *headers: bytes, status: int = 200) -> None:
    head = b"".join(h + b"\r\n" for h in headers)
    conn.data_received(
        b"HTTP/1.1 %d X\r\n%sContent-Length: %d\r\n\r\n%s" % (status, head, len(body), body)
    )


class Steps:
    """The engine's round-robin rows, for one row each."""

    def choose(self) -> int:
        return 2

    def row(self, which: int) -> int:
        return 0


def journey(cookies: bool = True) -> Journey:
    login = EngineRequest(
        "login",
        (b"POST /login HTTP/1.1\r\nHost: h\r\n\r\n",),
        0.0,
        stage="setup",
        extract=(extract.parse("token", "json:access_token"),),
    )
    spec = RequestSpec("me", path="/me", headers=(("Authorization", "Bearer {{token}}"),))
    me = EngineRequest(
        "me", (), personal=Personal(replace(spec, variables=frozenset({"token"})), "h")
    )
    plain = EngineRequest("plain", (b"GET /plain HTTP/1.1\r\nHost: h\r\n\r\n",))
    return Journey((login, plain, me), Steps(), "http://h:80", cookies)


def test_setup_first_then_the_request_built_once_per_token_and_cookie():
    assert journey().kinds() == (CapturingConnection, CookieConnection, CookieConnection)
    assert journey(cookies=False).kinds() == (CapturingConnection, HttpConnection, HttpConnection)
    user = UserJourney(journey())
    which, payload = user.pick()
    assert which == 0 and user.in_setup
    login = CapturingConnection(Owner())
    response(login, b'{"access_token": "t1"}', b"Set-Cookie: s=1")
    assert user.done(which, None, login, payload) is None and not user.in_setup
    which, first = user.pick()
    assert which == 2 and b"Authorization: Bearer t1\r\n" in first and b"Cookie: s=1\r\n" in first
    assert user.pick()[1] is first  # the same bytes, not built again
    conn = CookieConnection(Owner())
    response(conn, b"{}", b"X-Other: 1")
    assert conn.headers == [] and not conn.body  # nothing of it kept
    assert user.done(which, None, conn, first) is None
    assert user.pick()[1] is first  # nothing changed
    response(conn, b"{}", b"Set-Cookie: s=2")
    assert user.done(which, None, conn, first) is None and conn.headers == []
    assert b"Cookie: s=2\r\n" in user.pick()[1]


def test_an_empty_extraction_is_an_extract_error_and_setup_backs_off_to_five_seconds():
    user = UserJourney(journey())
    conn = CapturingConnection(Owner())
    waits = []
    for _ in range(8):
        which, payload = user.pick()
        response(conn, b'{"token": "wrong name"}')
        assert user.done(which, None, conn, payload) == "extract"
        waits.append(user.backoff)
    assert waits == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    assert user.in_setup
    which, payload = user.pick()
    assert user.done(which, "refused", None, payload) == "refused" and user.backoff == 5.0
    which, payload = user.pick()
    response(conn, b'{"access_token": "t"}')
    assert user.done(which, None, conn, payload) is None
    assert not user.in_setup and user.backoff == 0.0


def test_a_value_is_encoded_for_where_it_goes():
    spec = RequestSpec(
        "x",
        method="POST",
        path="/items/{{v}}",
        headers=(("X-V", "{{v}}"), ("Content-Type", "application/json")),
        body=b'{"v": "{{v}}"}',
        variables=frozenset({"v"}),
    )
    built = Personal(spec, "h").build(0, {"v": 'a/b "c"\r\nX-Evil: 1'})
    head, _, body = built.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /items/a%2Fb%20%22c%22%0D%0AX-Evil%3A%201 HTTP/1.1\r\n")
    assert b'\r\nX-V: a/b "c"X-Evil: 1\r\n' in head  # no CR or LF in a header value
    assert body == b'{"v": "a/b \\"c\\"\\r\\nX-Evil: 1"}'


# ---- a scenario file's journey ----------------------------------------------------------------
def load(tmp_path: Path, text: str) -> list[RequestSpec]:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return scenario.load(path)


def test_setup_steps_come_first_and_know_their_variables(tmp_path):
    specs = load(
        tmp_path,
        '[[requests]]\nname = "me"\npath = "/me/{{id}}"\nheaders = { A = "Bearer {{t}}" }\n'
        '[[setup]]\nname = "login"\nmethod = "POST"\npath = "/login"\n'
        'extract = { t = "json:access_token", id = "header:X-Id" }\n',
    )
    assert [(s.name, s.stage) for s in specs] == [("login", "setup"), ("me", "mix")]
    assert specs[1].variables == {"t", "id"} and specs[0].variables == frozenset()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[[setup]]\nname = "a"\npath = "/"\n', "no [[requests]] or [[flow]]"),
        (
            '[[requests]]\nname = "a"\npath = "/"\n[[flow]]\nname = "b"\npath = "/"\n',
            "not both",
        ),
        ('[[flow]]\nname = "a"\npath = "/"\nweight = 2\n', "weight is for [[requests]]"),
        ('[[requests]]\nname = "a"\npath = "/"\nextract = "json:a"\n', "extract must be a table"),
        (
            '[[requests]]\nname = "a"\npath = "/"\nextract = { t = "json:t" }\n'
            '[[requests]]\nname = "b"\npath = "/{{t}}"\n',
            "'b' uses {{t}} before any step sets it: no [[setup]] step extracts it",
        ),
        (
            '[[setup]]\nname = "a"\npath = "/{{t}}"\n[[setup]]\nname = "b"\npath = "/"\n'
            'extract = { t = "json:t" }\n[[requests]]\nname = "c"\npath = "/"\n',
            "'a' uses {{t}} before any step sets it: no earlier [[setup]] step",
        ),
    ],
)
def test_a_journey_that_cannot_work_is_refused(tmp_path, text, words):
    with pytest.raises(SpecError, match=words.replace("[", r"\[").replace("{", r"\{")):
        load(tmp_path, text)


def test_a_data_file_field_stands_in_for_a_variable_not_set_yet(tmp_path):
    (tmp_path / "rows.csv").write_text("t\nfirst\n")
    specs = load(
        tmp_path,
        '[[flow]]\nname = "a"\npath = "/{{t}}"\ndata_file = "rows.csv"\n'
        '[[flow]]\nname = "b"\npath = "/"\nextract = { t = "json:t" }\n',
    )
    assert specs[0].variables == {"t"}


class Mix(Steps):
    """The engine's mix of requests 1 and 2 (shared bytes), taking turns."""

    def __init__(self, requests: tuple[EngineRequest, ...]) -> None:
        self.requests, self.turn = requests, 0

    def choose(self) -> int:
        self.turn = 2 if self.turn == 1 else 1
        return self.turn

    def pick(self) -> tuple[int, bytes]:
        which = self.choose()
        return which, self.requests[which].payloads[0]


def test_a_mix_everyone_shares_is_the_mix_s_bytes_until_a_cookie_is_set():
    login = EngineRequest(
        "login", (b"POST /login HTTP/1.1\r\nHost: h\r\n\r\n",), 0.0, stage="setup"
    )
    a = EngineRequest("a", (b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n",))
    b = EngineRequest("b", (b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n",))
    requests = (login, a, b)
    user = UserJourney(Journey(requests, Mix(requests), "http://h:80", True))
    assert not user.settled and user.pick()[0] == 0
    conn = CookieConnection(Owner())
    response(conn, b"{}")
    assert user.done(0, None, conn, login.payloads[0]) is None
    assert user.settled and user.plain
    assert [user.pick() for _ in range(2)] == [(1, a.payloads[0]), (2, b.payloads[0])]
    response(conn, b"{}", b"Set-Cookie: s=1; Path=/a")
    assert user.done(2, None, conn, b.payloads[0]) is None
    assert user.settled and not user.plain
    assert [user.pick()[1] for _ in range(2)] == [
        b"GET /a HTTP/1.1\r\nHost: h\r\nCookie: s=1\r\n\r\n",
        b.payloads[0],  # the cookie's path is /a
    ]
