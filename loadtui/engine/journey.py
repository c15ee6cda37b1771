"""A user's journey through a scenario: its setup steps once, in order, before anything else
(retried from the first with back-off while one fails), then the ordered flow (repeated) or the
weighted mix; what its steps extract (its variables) and its cookie jar.

Cheap per request: a request that names no variable goes out as the bytes built before the run
while the user has no cookie; otherwise its bytes are built once per distinct set of the user's
values (variables and cookies) and kept, rebuilt only when one of them changes; a user whose
next requests are all the same sends them as they are (``fixed``). Responses are looked into only
for the steps that extract and, with cookies on, for their Set-Cookie headers: each request's
response is parsed by the connection that keeps just that (``Journey.kinds``; the socket is
handed over between requests), so a user through its setup parses as a plain user does.
"""

from __future__ import annotations

from typing import Any, Protocol

from loadtui.engine import extract
from loadtui.engine.cookies import Jar
from loadtui.engine.messages import EngineRequest
from loadtui.engine.transport import CapturingConnection, CookieConnection, HttpConnection

SETUP_BACKOFF_S = (0.1, 5.0)  # a failed setup waits 0.1 s, then twice as long each time, to 5 s
MAX_KEPT = 4096  # a user's built requests kept at once (rows x steps); beyond, built afresh


class Rows(Protocol):
    def pick(self) -> tuple[int, bytes]:
        """(which request of the weighted mix, its bytes as built before the run)."""

    def choose(self) -> int:
        """Which request of the weighted mix."""

    def row(self, which: int) -> int:
        """Which data row of request ``which``."""


class Journey:
    """A scenario's steps as an engine's users share them."""

    def __init__(self, requests: tuple[EngineRequest, ...], rows: Rows, origin: str, cookies: bool):
        self.requests = requests
        self.rows = rows
        self.origin = origin  # http(s)://host:port, for the cookie jars
        self.cookies = cookies
        self.setup = tuple(k for k, r in enumerate(requests) if r.stage == "setup")
        self.flow = tuple(k for k, r in enumerate(requests) if r.stage == "flow")
        self.keeps = tuple(bool(r.extract) for r in requests)
        mix = [k for k, r in enumerate(requests) if r.stage == "mix"]
        self.only = mix[0] if len(mix) == 1 else None  # the mix's one request: nothing to pick
        self.one_row = tuple(r.rows == 1 for r in requests)
        steady = self.only is not None and not self.flow
        steady = steady and self.one_row[self.only] and not self.keeps[self.only]  # type: ignore[index]
        # the one request every user sends once through the setup, always the same bytes
        self.steady = self.only if steady else None
        mix_steps = [r for r in requests if r.stage == "mix"]
        # once through the setup, nothing to do for a response but keep its cookies
        self.quiet = not self.flow and not any(r.extract for r in mix_steps)
        # ... and the mix's bytes are everyone's (no variable in them)
        self.shared = self.quiet and all(r.personal is None for r in mix_steps)

    def kinds(self) -> tuple[type[HttpConnection], ...] | None:
        """For each request, the connection its response is parsed by: capturing its headers
        and body for a step that extracts, its Set-Cookie headers with cookies on, nothing
        else (the plain connection); None when every request's is plain."""
        kinds = tuple(
            CapturingConnection if keep else CookieConnection if self.cookies else HttpConnection
            for keep in self.keeps
        )
        return None if all(kind is HttpConnection for kind in kinds) else kinds


class UserJourney:
    """One user's place in the journey, its variables, its cookies and its built requests."""

    __slots__ = (
        "_failures",
        "backoff",
        "built",
        "fixed",
        "jar",
        "journey",
        "next_flow",
        "plain",
        "settled",
        "step",
        "values",
    )

    def __init__(self, journey: Journey) -> None:
        self.journey = journey
        self.values: dict[str, extract.Value] = {}
        self.jar = Jar(journey.origin) if journey.cookies else None
        self.built: dict[int, bytes] = {}  # by row * requests + which
        # once through the setup of a journey whose next requests are one and the same (one
        # request of one row, extracting nothing, no cookie to expire): it, ready to send
        self.fixed: tuple[int, bytes] | None = None
        # through the setup of a quiet journey: the engine calls ``done`` only when a response
        # set a cookie
        self.settled = False
        # ... and with no cookie yet, of a mix everyone shares: the mix picks for it
        self.plain = False
        self.step = 0  # setup steps done: through when it is len(journey.setup)
        self.next_flow = 0
        self.backoff = 0.0  # how long to wait before the next request (a setup retrying)
        self._failures = 0
        self._shortcuts()

    @property
    def in_setup(self) -> bool:
        return self.step < len(self.journey.setup)

    def pick(self) -> tuple[int, bytes]:
        """(which request, its bytes) for this user's next request."""
        if self.fixed is not None:
            return self.fixed
        journey = self.journey
        if self.plain:
            return journey.rows.pick()
        if self.step < len(journey.setup):
            which = journey.setup[self.step]
        elif journey.flow:
            which = journey.flow[self.next_flow]
            self.next_flow = (self.next_flow + 1) % len(journey.flow)
        elif journey.only is not None:
            which = journey.only
        else:
            which = journey.rows.choose()
        row = 0 if journey.one_row[which] else journey.rows.row(which)
        request = journey.requests[which]
        jar = self.jar
        if jar is not None and jar.next_expiry is not None and jar.expired():
            self._forget()
        if request.personal is None and not jar:
            payload = request.payloads[row]
        else:
            key = row * len(journey.requests) + which
            payload = self.built.get(key) or self._build(key, which, row)
        if which == journey.steady and (jar is None or jar.next_expiry is None):
            self.fixed = (which, payload)
        return which, payload

    def _forget(self) -> None:
        """The user's values changed: its requests are built again."""
        self.built.clear()
        self.fixed = None
        self._shortcuts()

    def _shortcuts(self) -> None:
        journey = self.journey
        self.settled = self.step >= len(journey.setup) and journey.quiet
        self.plain = self.settled and journey.shared and not self.jar

    def _build(self, key: int, which: int, row: int) -> bytes:
        request = self.journey.requests[which]
        personal = request.personal
        payload = request.payloads[row] if personal is None else personal.build(row, self.values)
        if self.jar:
            payload = _with_cookies(payload, self.jar)
        if len(self.built) >= MAX_KEPT:
            self.built.clear()
        self.built[key] = payload
        return payload

    def done(self, which: int, kind: str | None, conn: Any, payload: bytes) -> str | None:
        """A request of this user ended (``conn``: the CookieConnection or CapturingConnection
        its response came on; None when no response came or none was kept); the error kind it
        counts as (``extract``: its extraction found nothing)."""
        journey = self.journey
        if conn is not None and (conn.headers or conn.body):  # this step extracts, or a cookie
            if self.jar is not None:
                self._keep_cookies(conn.headers, payload)
            if kind is None and journey.keeps[which]:
                kind = self._extract(journey.requests[which], conn)
            conn.clear()
        elif kind is None and journey.keeps[which]:
            kind = "extract"
        if self.step < len(journey.setup):
            self._setup_step(kind)
        elif kind is not None and journey.flow:
            self.next_flow = 0  # a later step may need what this one failed to give
        return kind

    def _keep_cookies(self, headers: list[tuple[bytes, bytes]], payload: bytes) -> None:
        set_cookies = [value for name, value in headers if name.lower() == b"set-cookie"]
        if set_cookies and self.jar is not None and self.jar.take(_path(payload), set_cookies):
            self._forget()

    def _extract(self, request: EngineRequest, conn: CapturingConnection) -> str | None:
        parsed = extract.document(bytes(conn.body)) if conn.body_whole else extract.NOT_JSON
        changed = False
        for extraction in request.extract:
            found = extract.apply(extraction, conn.headers, parsed)
            if found is None:
                return "extract"
            if self.values.get(extraction.variable) != found:
                self.values[extraction.variable] = found
                changed = True
        if changed:
            self._forget()
        return None

    def _setup_step(self, kind: str | None) -> None:
        if kind is None:
            self.step += 1
            self._failures, self.backoff = 0, 0.0
            self._shortcuts()
        else:  # the setup starts again from its first step, after a while
            first, most = SETUP_BACKOFF_S
            self.step, self.backoff = 0, min(most, first * 2**self._failures)
            self._failures = min(self._failures + 1, 32)


def _path(payload: bytes) -> str:
    """The request target of a request's bytes."""
    return payload.split(b" ", 2)[1].decode("latin-1")


def _with_cookies(payload: bytes, jar: Jar) -> bytes:
    """The request with the Cookie header its path gets from ``jar`` (if any applies)."""
    cookie = jar.header(_path(payload))
    if cookie is None:
        return payload
    end = payload.index(b"\r\n\r\n")
    return payload[:end] + b"\r\nCookie: " + cookie.encode("latin-1") + payload[end:]
