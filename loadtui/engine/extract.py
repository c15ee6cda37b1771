"""What a journey's step takes from its response into the user's variables: ``json:`` a field of
the JSON body by dotted path (``items.0.id``: a number indexes a list), ``header:`` a response
header (the first of that name), ``cookie:`` a cookie the response sets. Parsed and checked
before any work; applied in the engine to the responses of the steps that extract."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Literal

from loadtui.engine.request_spec import SpecError

Source = Literal["json", "header", "cookie"]
SOURCES = ("json", "header", "cookie")
VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
MAX_VALUE_CHARS = 64 * 1024  # a variable goes into every request that names it

Value = str | int | float | bool


@dataclass(frozen=True)
class Extraction:
    variable: str
    source: Source
    path: str  # a dotted JSON path, a header name (lower case) or a cookie name

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.path.split("."))


def parse(variable: str, text: object) -> Extraction:
    """``token = "json:access_token"`` and the like; SpecError (one line) if it does not parse."""
    if not isinstance(variable, str) or not VARIABLE.fullmatch(variable):
        raise SpecError(f"extract: {variable!r} is not a variable name (letters, digits, _)")
    if not isinstance(text, str):
        raise SpecError(f'extract {variable}: give it as "json:PATH", "header:NAME" or ...')
    source, colon, path = text.partition(":")
    if not colon or source not in SOURCES:
        raise SpecError(
            f"extract {variable} = {text!r}: the source must be json:, header: or cookie:"
        )
    if not path:
        raise SpecError(f"extract {variable} = {text!r}: {source}: names nothing")
    if source == "json" and not all(path.split(".")):
        raise SpecError(f"extract {variable} = {text!r}: an empty step in the JSON path")
    if source != "json" and not HEADER_NAME.fullmatch(path):
        raise SpecError(f"extract {variable} = {text!r}: {path!r} is not a {source} name")
    return Extraction(variable, source, path.lower() if source == "header" else path)  # type: ignore[arg-type]


NOT_JSON = object()


def document(body: bytes) -> object:
    """A JSON body parsed (once for all of a step's json: extractions); NOT_JSON if it is not."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return NOT_JSON


def from_json(found: object, keys: tuple[str, ...]) -> Value | None:
    """The value at ``keys`` in a parsed JSON body; None if the path leads nowhere or to
    something other than a string, number or boolean."""
    for key in keys:
        if isinstance(found, dict):
            found = found.get(key)
        elif isinstance(found, list) and key.isdigit() and int(key) < len(found):
            found = found[int(key)]
        else:
            return None
    return found if isinstance(found, str | int | float | bool) else None


def from_header(headers: list[tuple[bytes, bytes]], name: str) -> str | None:
    wanted = name.encode("latin-1")
    for found, value in headers:
        if found.lower() == wanted:
            return value.decode("latin-1")
    return None


def from_cookies(headers: list[tuple[bytes, bytes]], name: str) -> str | None:
    """The value of cookie ``name`` as a Set-Cookie header of the response gives it."""
    for found, value in headers:
        if found.lower() != b"set-cookie":
            continue
        cookie = SimpleCookie()
        try:
            cookie.load(value.decode("latin-1"))
        except CookieError:
            continue
        if name in cookie:
            return cookie[name].value
    return None


def apply(
    extraction: Extraction, headers: list[tuple[bytes, bytes]], parsed: object
) -> Value | None:
    """What ``extraction`` finds in a response (its headers, its body as :func:`document`
    parsed it); None: nothing (an ``extract`` error)."""
    found: Value | None
    if extraction.source == "json":
        found = from_json(parsed, extraction.keys)
    elif extraction.source == "header":
        found = from_header(headers, extraction.path)
    else:
        found = from_cookies(headers, extraction.path)
    if isinstance(found, str) and (not found or len(found) > MAX_VALUE_CHARS):
        return None
    return found
