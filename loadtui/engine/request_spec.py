"""What each request is, checked completely before any work: method, path (a template), headers,
body, the statuses that count as success, its weight in a mix, and the data rows that vary it.
Turned into the exact bytes the engine sends (:func:`payloads`), once per distinct request.

Templates: ``{field}`` in a path (as OpenAPI writes path parameters) and ``{{field}}`` in a path,
a header value or a body (so that JSON's own braces need no escaping) take the field from the data
file's row: one row per request, round-robin or in random order. Every field a template names must
be in every row, unless it is one of a journey's variables (``variables``): what a user's earlier
step extracted, built into that user's bytes by :class:`Personal`. Data-row fields and variables
meet in one mapping (:func:`_request_bytes`), each value encoded for where it goes.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from loadtui import __version__

Order = Literal["round-robin", "random"]
Stage = Literal["mix", "setup", "flow"]  # a scenario's [[requests]], [[setup]] or [[flow]] step
MAX_ROWS = 100_000  # every row becomes the bytes of one request, built before the run
MAX_DATA_BYTES = 64 * 1024 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110: methods and header names
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # a tab may stand in a header value
PATH_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
BODY_FIELD = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}")
PATH_SAFE = "/?&=:@!$'()*+,;-._~%[]"  # kept as written; anything else is percent-encoded


class SpecError(ValueError):
    """A request that cannot be sent as given; the message is one line for the user."""


@dataclass(frozen=True)
class RequestSpec:
    name: str
    method: str = "GET"
    path: str = "/"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    weight: float = 1.0
    expect: frozenset[int] | None = None  # None: any status below 400 is a success
    rows: tuple[Mapping[str, Any], ...] = ()
    order: Order = "round-robin"
    data_file: str | None = None  # where the rows came from, for messages
    stage: Stage = "mix"
    extract: tuple[Any, ...] = ()  # of extract.Extraction: what this step keeps of its response
    variables: frozenset[str] = frozenset()  # fields that are a user's variables, not data rows

    def fields(self) -> set[str]:
        found = set(PATH_FIELD.findall(self.path))
        for _, value in self.headers:
            found |= set(BODY_FIELD.findall(value))
        if self.body is not None:
            found |= set(BODY_FIELD.findall(self.body.decode("utf-8", "replace")))
        return found

    @property
    def json_body(self) -> bool:
        return any(
            name.lower() == "content-type" and "json" in value.lower()
            for name, value in self.headers
        )


# ---- pieces of a command line -------------------------------------------------------------------
def check_text(what: str, text: str) -> str:
    if CONTROL.search(text):
        raise SpecError(f"{what} {text!r} holds a control character (CR, LF, ...)")
    return text


def method(text: str) -> str:
    if not TOKEN.fullmatch(text):
        raise SpecError(f"method {text!r} is not an HTTP method")
    return text.upper()


def header(text: str) -> tuple[str, str]:
    """``Name: value``, as curl's -H takes it."""
    name, colon, value = text.partition(":")
    if not colon:
        raise SpecError(f"header {text!r} has no colon: give it as 'Name: value'")
    name, value = name.strip(), value.strip()
    if not TOKEN.fullmatch(name):
        raise SpecError(f"header name {name!r} is not a valid HTTP header name")
    return name, check_text(f"the value of header {name}", value)


def data(text: str, base: Path | None = None) -> bytes:
    """``-d TEXT`` or ``-d @FILE`` (a path relative to ``base`` when given)."""
    if not text.startswith("@"):
        return text.encode("utf-8")
    path = (base or Path()) / text[1:]
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"-d {text}: cannot read {path}: {exc.strerror or exc}") from None
    if len(body) > MAX_BODY_BYTES:
        raise SpecError(f"-d {text}: {len(body):,} bytes is more than a request body may be")
    return body


def expect(text: str) -> frozenset[int]:
    statuses = set()
    for part in text.split(","):
        try:
            status = int(part.strip())
        except ValueError:
            raise SpecError(f"--expect {text}: {part.strip()!r} is not a status code") from None
        if not 100 <= status <= 599:
            raise SpecError(f"--expect {text}: {status} is not an HTTP status (100-599)")
        statuses.add(status)
    return frozenset(statuses)


def weight(value: object, name: str) -> float:
    try:
        found = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        found = float("nan")
    if not 0 < found < float("inf") or isinstance(value, bool):
        raise SpecError(f"request {name!r}: weight {value!r} is not a positive number")
    return found


def with_defaults(spec: RequestSpec) -> RequestSpec:
    """As curl: data without a method means POST, and data that parses as JSON is sent as
    JSON unless a header says otherwise."""
    if spec.body is None:
        return spec
    names = {name.lower() for name, _ in spec.headers}
    if "content-type" not in names and _parses_as_json(spec.body):
        spec = replace(spec, headers=(*spec.headers, ("Content-Type", "application/json")))
    return spec


def _parses_as_json(body: bytes) -> bool:
    text = BODY_FIELD.sub("0", body.decode("utf-8", "replace"))
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


# ---- data rows -----------------------------------------------------------------------------------
def rows(path: Path) -> tuple[Mapping[str, Any], ...]:
    """A data file's rows: ``.jsonl`` (one JSON object a line) or ``.csv`` (a header line)."""
    try:
        if path.stat().st_size > MAX_DATA_BYTES:
            raise SpecError(f"{path}: larger than {MAX_DATA_BYTES // 2**20} MB")
        text = path.read_text("utf-8")
    except OSError as exc:
        raise SpecError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SpecError(f"{path}: not UTF-8 text") from None
    found = _csv_rows(path, text) if path.suffix.lower() == ".csv" else _jsonl_rows(path, text)
    if not found:
        raise SpecError(f"{path}: no rows")
    if len(found) > MAX_ROWS:
        raise SpecError(f"{path}: {len(found):,} rows, more than {MAX_ROWS:,}")
    return tuple(found)


def _jsonl_rows(path: Path, text: str) -> list[Mapping[str, Any]]:
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise SpecError(f"{path}:{number}: not a JSON line ({exc.msg})") from None
        if not isinstance(row, dict):
            raise SpecError(f"{path}:{number}: a row must be a JSON object")
        found.append(row)
    return found


def _csv_rows(path: Path, text: str) -> list[Mapping[str, Any]]:
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        found = []
        for row in reader:
            if None in row or None in row.values():
                raise SpecError(f"{path}:{reader.line_num}: not as many cells as the header")
            found.append(row)
    except csv.Error as exc:
        raise SpecError(f"{path}: not CSV ({exc})") from None
    return found


def check_fields(spec: RequestSpec) -> None:
    """Every field a template names is in every row (and there are rows if it names any)."""
    needed = spec.fields() - spec.variables
    if not needed:
        return
    where = spec.data_file or "--data-file"
    if not spec.rows:
        raise SpecError(
            f"request {spec.name!r} names {', '.join(sorted(needed))} but has no data file"
        )
    for number, row in enumerate(spec.rows, start=1):
        missing = needed - set(row)
        if missing:
            raise SpecError(
                f"{where}: row {number} has no {', '.join(sorted(missing))} "
                f"(request {spec.name!r} names it)"
            )


# ---- the bytes -----------------------------------------------------------------------------------
def encode_path(path: str) -> str:
    """The path as it goes on the wire: the fragment dropped, anything not allowed in a request
    target (non-ASCII, spaces) percent-encoded, what is already encoded left as it is."""
    path = path.partition("#")[0]
    if not path.startswith("/"):
        path = "/" + path
    return quote(path, safe=PATH_SAFE)


def _path_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return quote(text, safe="")


def _header_value(value: Any) -> str:
    """A value in a header: no CR, LF or other control character, UTF-8 bytes as they are."""
    text = value if isinstance(value, str) else json.dumps(value)
    return CONTROL.sub("", text).encode("utf-8").decode("latin-1")


def _body_value(value: Any, as_json: bool) -> str:
    if not as_json:
        return value if isinstance(value, str) else json.dumps(value)
    return json.dumps(value)[1:-1] if isinstance(value, str) else json.dumps(value)


def _request_bytes(spec: RequestSpec, host: str, row: Mapping[str, Any] | None) -> bytes:
    """``row``: the fields of a data row and, in a journey, the user's variables."""
    path, body, given = spec.path, spec.body, spec.headers
    if row is not None:
        path = BODY_FIELD.sub(lambda m: _path_value(row[m.group(1)]), path)
        path = PATH_FIELD.sub(lambda m: _path_value(row[m.group(1)]), path)
        given = tuple(
            (name, BODY_FIELD.sub(lambda m: _header_value(row[m.group(1)]), value))
            for name, value in given
        )
        if body is not None:
            text = body.decode("utf-8")
            as_json = spec.json_body
            body = BODY_FIELD.sub(lambda m: _body_value(row[m.group(1)], as_json), text).encode()
    headers = {"host": ("Host", host), "user-agent": ("User-Agent", f"loadtui/{__version__}")}
    headers["accept"] = ("Accept", "*/*")
    for name, value in given:
        headers[name.lower()] = (name, value)
    if body is not None:
        headers["content-length"] = ("Content-Length", str(len(body)))
    head = f"{spec.method} {encode_path(path)} HTTP/1.1\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.values()) + "\r\n"
    return head.encode("latin-1", "strict") + (body or b"")


def payloads(spec: RequestSpec, host: str) -> tuple[bytes, ...]:
    """The bytes of every distinct request: one per data row, or the one request."""
    try:
        if spec.rows and spec.fields():
            return tuple(_request_bytes(spec, host, row) for row in spec.rows)
        return (_request_bytes(spec, host, None),)
    except UnicodeEncodeError:
        raise SpecError(
            f"request {spec.name!r}: a header holds characters HTTP/1.1 cannot carry"
        ) from None


@dataclass(frozen=True)
class Personal:
    """A request naming a user's variables: its bytes are built in the engine, for each user,
    once per distinct set of that user's values (the engine keeps them)."""

    spec: RequestSpec
    host: str

    @property
    def rows(self) -> int:
        return max(1, len(self.spec.rows))

    def build(self, row: int, values: Mapping[str, Any]) -> bytes:
        """The bytes of data row ``row`` with ``values`` (a user's variables) filled in."""
        fields = {**self.spec.rows[row], **values} if self.spec.rows else values
        return _request_bytes(self.spec, self.host, fields)


def host_header(host: str, port: int, default_port: int) -> str:
    """The Host header: an IPv6 address in brackets, the port unless it is the default."""
    shown = f"[{host}]" if ":" in host else host
    return shown if port == default_port else f"{shown}:{port}"


# ---- one request from the command line, or a scenario file --------------------------------------
@dataclass(frozen=True)
class Shape:
    """The request options of `run`, `matrix` and the TUI, as given."""

    method: str | None = None
    headers: tuple[str, ...] = ()
    data: str | None = None
    expect: str | None = None
    data_file: Path | None = None
    data_order: Order = "round-robin"


def for_path(shape: RequestSpec, path: str) -> RequestSpec:
    """``shape`` (method, headers, body, rows) asked of ``path``, checked."""
    check_text("path", path)
    spec = replace(shape, name=f"{shape.method} {path}", path=path)
    check_fields(spec)
    return spec


def shaped(shape: Shape) -> RequestSpec:
    """The request options of a command line, checked; its path comes with :func:`for_path`."""
    body = data(shape.data) if shape.data is not None else None
    chosen = method(shape.method) if shape.method else ("POST" if body is not None else "GET")
    return with_defaults(
        RequestSpec(
            name=chosen,
            method=chosen,
            headers=tuple(header(text) for text in shape.headers),
            body=body,
            expect=expect(shape.expect) if shape.expect else None,
            rows=rows(shape.data_file) if shape.data_file else (),
            order=shape.data_order,
            data_file=str(shape.data_file) if shape.data_file else None,
        )
    )


def from_command_line(path: str, shape: Shape) -> RequestSpec:
    return for_path(shaped(shape), path)


def unique_names(specs: Iterable[RequestSpec]) -> None:
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise SpecError(f"two requests are named {spec.name!r}: names must differ")
        seen.add(spec.name)
