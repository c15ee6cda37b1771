"""Where a target's OpenAPI document is, and the document read: ``--openapi URL_OR_PATH`` when
given, else the common places (the target's own path prefix, ``/openapi.json``,
``/api/openapi.json``, ``/api/v1/openapi.json``, ``/v1/openapi.json``), else the link in its
docs page (Swagger UI's ``url: '...'`` at ``/docs``, ReDoc's ``spec-url`` at ``/redoc``).

Everything is the target's word: only hosts the target permits (loopback, or its own host with
--allow-remote) are asked, with a deadline for each request and for the whole search, a cap on
each answer's size and on the number of tries; no redirect is followed; a document is used only
when it is JSON, OpenAPI 3, with a table of paths.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from loadtui.targets.target import CONTROL, Target

COMMON = ("/openapi.json", "/api/openapi.json", "/api/v1/openapi.json", "/v1/openapi.json")
DOCS_PAGES = ("/docs", "/redoc")
TIMEOUT_S = 5.0  # each request
DEADLINE_S = 15.0  # the whole search
MAX_TRIES = 12
MAX_BYTES = 8 * 1024 * 1024  # a document
MAX_PAGE_BYTES = 1024 * 1024  # a docs page
# Swagger UI: `url: '/api/v1/openapi.json',`; ReDoc: `<redoc spec-url="/api/v1/openapi.json">`
LINK = re.compile(r"""(?:\burl\s*:\s*|\bspec-url\s*=\s*)(['"])([^'"<>\s\\]{1,300})\1""")


class OpenAPIError(Exception):
    """No usable OpenAPI document; the message says why, on one line (``short``: in fewer
    words, for a pane)."""

    def __init__(self, message: str, short: str | None = None) -> None:
        super().__init__(message)
        self.short = short or message


class _Unreachable(OpenAPIError):
    """The server did not answer at all: no other place is tried."""


@dataclass(frozen=True)
class Found:
    document: dict[str, Any]
    where: str  # the URL (or file) it was read from


def given(text: str, target: Target) -> str:
    """``--openapi``'s value, checked (nothing fetched): an http(s) URL on a host the target
    permits, a file, or a path on the target's server (``/api/v1/openapi.json``). The URL to
    read, or the file's path; OpenAPIError saying what is wrong."""
    if not text or CONTROL.search(text.replace(" ", "")):
        raise OpenAPIError(f"--openapi {text!r}: a control character or nothing")
    if "://" not in text:
        if Path(text).is_file():
            return text
        if not text.startswith("/") or " " in text:
            raise OpenAPIError(f"--openapi {text}: no such file (a URL starts with http://)")
        return target.origin + text
    if " " in text:
        raise OpenAPIError(f"--openapi {text}: a space in a URL")
    parts = urlsplit(text)
    try:
        host = parts.hostname
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        raise OpenAPIError(f"--openapi {text}: not a URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise OpenAPIError(f"--openapi {text}: give an http:// or https:// URL, or a file")
    if not target.permits("127.0.0.1" if host.lower() == "localhost" else host):
        raise OpenAPIError(
            f"--openapi {text}: {host} is not loopback (nor the --allow-remote target's host)"
        )
    return text


def read(where: str, target: Target) -> Found:
    """The document at ``where`` (as :func:`given` returned it), or OpenAPIError."""
    if "://" not in where:
        try:
            with Path(where).open("rb") as file:
                body = file.read(MAX_BYTES + 1)
        except OSError as exc:
            raise OpenAPIError(f"{where}: cannot read: {exc.strerror or exc}") from None
        return Found(_document(where, body), where)
    with _client(target) as client:
        return Found(_document(where, _get(client, where, MAX_BYTES)), where)


def find(target: Target) -> Found:
    """The target's document, from the common places or its docs page's link; OpenAPIError
    naming what was tried."""
    prefix = urlsplit(target.url).path.rstrip("/")
    root = target.origin
    places = [root + path for path in dict.fromkeys((prefix + COMMON[0], *COMMON))]
    pages = [
        root + path for path in dict.fromkeys([prefix + p for p in DOCS_PAGES] + [*DOCS_PAGES])
    ]
    search = _Search(target)
    with _client(target) as client:
        for url in places:
            found = search.document(client, url)
            if found is not None:
                return found
        for page in pages:
            for url in search.links(client, page):
                found = search.document(client, url)
                if found is not None:
                    return found
    raise OpenAPIError(search.failure(root), f"no OpenAPI document at {root}")


class _Search:
    """The tries of one search, bounded in number and time, and why each failed."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.deadline = time.monotonic() + DEADLINE_S
        self.tried: list[str] = []
        self.reasons: Counter[str] = Counter()

    def _may_try(self, url: str) -> bool:
        return (
            url not in self.tried
            and len(self.tried) < MAX_TRIES
            and time.monotonic() < self.deadline
        )

    def _fetch(self, client: httpx.Client, url: str, limit: int) -> bytes | None:
        self.tried.append(url)
        try:
            return _get(client, url, limit)
        except _Unreachable:
            raise
        except OpenAPIError as exc:
            self.reasons[_reason(exc, url)] += 1
            return None

    def document(self, client: httpx.Client, url: str) -> Found | None:
        if not self._may_try(url):
            return None
        body = self._fetch(client, url, MAX_BYTES)
        if body is None:
            return None
        try:
            return Found(_document(url, body), url)
        except OpenAPIError as exc:
            self.reasons[_reason(exc, url)] += 1
            return None

    def links(self, client: httpx.Client, page: str) -> list[str]:
        """The documents a docs page links to, on hosts the target permits."""
        if not self._may_try(page):
            return []
        body = self._fetch(client, page, MAX_PAGE_BYTES)
        if body is None:
            return []
        found = []
        for match in LINK.finditer(body.decode("utf-8", "replace")):
            url = urljoin(page, match.group(2))
            parts = urlsplit(url)
            if parts.scheme in ("http", "https") and self.target.permits(parts.hostname or ""):
                found.append(url)
        return list(dict.fromkeys(found))[:2]

    def failure(self, root: str) -> str:
        paths = ", ".join(url.removeprefix(root) for url in self.tried)
        why = "; ".join(f"{reason} x{n}" if n > 1 else reason for reason, n in self.reasons.items())
        return f"no OpenAPI document at {root} (tried {paths}: {why})"


def _reason(exc: OpenAPIError, url: str) -> str:
    return str(exc).removeprefix(url).lstrip(": ").removeprefix("answered ")


def _client(target: Target) -> httpx.Client:
    trust = target.ssl_context() or True  # https: -k and --cacert as the load has them
    return httpx.Client(timeout=TIMEOUT_S, trust_env=False, follow_redirects=False, verify=trust)


def _get(client: httpx.Client, url: str, limit: int) -> bytes:
    """GET ``url``'s body (200 only, at most ``limit`` bytes), or OpenAPIError."""
    try:
        with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise OpenAPIError(f"{url} answered HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_raw():
                body += chunk
                if len(body) > limit:
                    raise OpenAPIError(f"{url} is larger than {limit // 2**20} MB")
            return bytes(body)
    except (httpx.ConnectError, httpx.TimeoutException) as exc:
        raise _Unreachable(f"{url}: {type(exc).__name__}") from None
    except httpx.HTTPError as exc:
        raise OpenAPIError(f"{url}: {type(exc).__name__}") from None


def _document(where: str, body: bytes) -> dict[str, Any]:
    """``body`` as an OpenAPI 3 document, or OpenAPIError."""
    if len(body) > MAX_BYTES:
        raise OpenAPIError(f"{where} is larger than {MAX_BYTES // 2**20} MB")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise OpenAPIError(f"{where} is not JSON") from None
    if not isinstance(document, dict):
        raise OpenAPIError(f"{where} is not an OpenAPI document")
    version = document.get("openapi")
    if not isinstance(version, str) or not version.startswith("3."):
        swagger = isinstance(document.get("swagger"), str)
        raise OpenAPIError(
            f"{where} is {'Swagger 2' if swagger else 'not an OpenAPI 3 document'}"
            + (", not OpenAPI 3" if swagger else " (no openapi: 3.x)")
        )
    if not isinstance(document.get("paths"), dict):
        raise OpenAPIError(f"{where} is not an OpenAPI document (no paths)")
    return document
