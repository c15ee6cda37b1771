"""A user's journey through a scenario: its setup steps once, in order, before anything else
(retried from the first with back-off while one fails), then the ordered flow (repeated) or the
weighted mix; what its steps extract (its variables) and its cookie jar.

Cheap per request: a request that names no variable goes out as the bytes built before the run
while the user has no cookie; otherwise its bytes are built once per distinct set of the user's
values (variables and cookies) and kept, rebuilt only when one of them changes. Responses are
looked into only for the steps that extract and, with cookies on, for their Set-Cookie headers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from loadtui.engine import extract
from loadtui.engine.cookies import Jar
from loadtui.engine.messages import EngineRequest
from loadtui.engine.transport import CapturingConnection

SETUP_BACKOFF_S = (0.1, 5.0)  # a failed setup waits 0.1 s, then twice as long each time, to 5 s
MAX_KEPT = 4096  # a user's built requests kept at once (rows x steps); beyond, built afresh


class Rows(Protocol):
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

    def connection(self) -> Callable[..., CapturingConnection] | None:
        """How its users' connections are made: capturing what its steps need of responses;
        None when none is needed."""
        cookies = self.cookies
        if not (cookies or any(self.keeps)):
            return None
        return lambda owner: CapturingConnection(owner, cookies)


class UserJourney:
    """One user's place in the journey, its variables, its cookies and its built requests."""

    __slots__ = ("_failures", "backoff", "built", "jar", "journey", "next_flow", "step", "values")

    def __init__(self, journey: Journey) -> None:
        self.journey = journey
        self.values: dict[str, extract.Value] = {}
        self.jar = Jar(journey.origin) if journey.cookies else None
        self.built: dict[tuple[int, int], bytes] = {}
        self.step = 0  # setup steps done: through when it is len(journey.setup)
        self.next_flow = 0
        self.backoff = 0.0  # how long to wait before the next request (a setup retrying)
        self._failures = 0

    @property
    def in_setup(self) -> bool:
        return self.step < len(self.journey.setup)

    def pick(self) -> tuple[int, bytes]:
        """(which request, its bytes) for this user's next request."""
        journey = self.journey
        if self.step < len(journey.setup):
            which = journey.setup[self.step]
        elif journey.flow:
            which = journey.flow[self.next_flow]
            self.next_flow = (self.next_flow + 1) % len(journey.flow)
        else:
            which = journey.rows.choose()
        row = journey.rows.row(which)
        request = journey.requests[which]
        jar = self.jar
        if jar is not None and jar.next_expiry is not None and jar.expired():
            self.built.clear()
        if request.personal is None and not jar:
            return which, request.payloads[row]
        payload = self.built.get((which, row))
        if payload is None:
            payload = self._build(which, row)
        return which, payload

    def _build(self, which: int, row: int) -> bytes:
        request = self.journey.requests[which]
        personal = request.personal
        payload = request.payloads[row] if personal is None else personal.build(row, self.values)
        if self.jar:
            payload = _with_cookies(payload, self.jar)
        if len(self.built) >= MAX_KEPT:
            self.built.clear()
        self.built[(which, row)] = payload
        return payload

    def done(self, which: int, kind: str | None, conn: object, payload: bytes) -> str | None:
        """A request of this user ended (``conn``: the connection its response came on, None
        when none came); the error kind it counts as (``extract``: its extraction found
        nothing)."""
        request = self.journey.requests[which]
        if isinstance(conn, CapturingConnection) and conn.headers:
            if self.jar is not None:
                self._keep_cookies(conn.headers, payload)
            if kind is None and request.extract:
                kind = self._extract(request, conn)
        elif kind is None and request.extract:
            kind = "extract"
        self._advance(kind)
        return kind

    def _keep_cookies(self, headers: list[tuple[bytes, bytes]], payload: bytes) -> None:
        set_cookies = [value for name, value in headers if name.lower() == b"set-cookie"]
        if set_cookies and self.jar is not None and self.jar.take(_path(payload), set_cookies):
            self.built.clear()

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
            self.built.clear()
        return None

    def _advance(self, kind: str | None) -> None:
        if self.step < len(self.journey.setup):
            if kind is None:
                self.step += 1
                self._failures, self.backoff = 0, 0.0
            else:  # the setup starts again from its first step, after a while
                first, most = SETUP_BACKOFF_S
                self.step, self.backoff = 0, min(most, first * 2**self._failures)
                self._failures = min(self._failures + 1, 32)
        elif kind is not None and self.journey.flow:
            self.next_flow = 0  # a later step may need what this one failed to give


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
