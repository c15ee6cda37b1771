"""What each request is, checked completely before any work: method, path (a template), headers,
body, the statuses that count as success, its weight in a mix, and the data rows that vary it.
Turned into the exact bytes the engine sends (:func:`payloads`), once per distinct request.

Templates: ``{field}`` in a path (as OpenAPI writes path parameters) and ``{{field}}`` in a path,
a header value or a body (so that JSON's own braces need no escaping) take the field from the data
file's row: one row per request, round-robin or in random order, each value encoded for where it
stands (:func:`fill`). Every field a template names must be in every row, unless it is one
of a journey's variables (``variables``): what a user's earlier step extracted, built into
that user's bytes by :class:`Personal`. Data-row fields and variables meet in one mapping,
filled in the one place (:func:`fill`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import mimetypes
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from loadtui import __version__
from loadtui.engine.bodies import FORM_TYPE, Multipart, Part, form_encoded

Order = Literal["round-robin", "random"]
BodyKind = Literal["json", "form", "text"]
Stage = Literal["mix", "setup", "flow"]  # a scenario's [[requests]], [[setup]] or [[flow]] step
MAX_ROWS = 100_000  # every row becomes the bytes of one request, built before the run
MAX_DATA_BYTES = 64 * 1024 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024
LIMIT = f"{MAX_BODY_BYTES // 2**20} MB"  # as messages say it
MAX_BUILT_BYTES = 1024 * 1024 * 1024  # every row's request, built before the run
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
    multipart: Multipart | None = None  # -F: the body is built from these parts instead
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
        for text in self._templates():
            found |= set(BODY_FIELD.findall(text))
        return found

    def _templates(self) -> Iterator[str]:
        yield self.path
        yield from (value for _, value in self.headers)
        if self.body is not None:
            yield self.body.decode("utf-8", "replace")
        if self.multipart is not None:
            yield from (part.text for part in self.multipart.parts if part.content is None)

    @property
    def content_type(self) -> str | None:
        return next((v for n, v in self.headers if n.lower() == "content-type"), None)

    @property
    def body_kind(self) -> BodyKind:
        """How a ``{{field}}``'s value is encoded in the body: as a JSON value, a form value
        (percent-encoded), or as it is."""
        given = (self.content_type or "").lower()
        return "json" if "json" in given else "form" if FORM_TYPE in given else "text"

    @property
    def body_size(self) -> int:
        if self.multipart is not None:
            return self.multipart.size
        return len(self.body or b"")


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
    return _read(f"-d {text}", (base or Path()) / text[1:])


def _read(what: str, path: Path) -> bytes:
    """A file that goes into a body, read once, before the run, and bounded."""
    try:
        with path.open("rb") as file:
            body = file.read(MAX_BODY_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"{what}: cannot read {path}: {exc.strerror or exc}") from None
    if len(body) > MAX_BODY_BYTES:
        raise SpecError(f"{what}: {path} is more than a request body may be ({LIMIT})")
    return body


def data_urlencode(text: str, base: Path | None = None) -> str:
    """One ``--data-urlencode`` as curl reads it: ``content``, ``=content``, ``name=content``,
    ``@file`` or ``name@file``; the content percent-encoded, the name as given."""
    cut = text.find("=")
    cut = text.find("@") if cut < 0 else cut
    name, mark, content = (text[:cut], text[cut], text[cut + 1 :]) if cut >= 0 else ("", "", text)
    if mark == "@":
        path = (base or Path()) / content
        content = _read(f"--data-urlencode {text}", path).decode("utf-8", "surrogateescape")
    encoded = form_encoded(content, BODY_FIELD)
    return f"{name}={encoded}" if name else encoded


def form_table(table: Mapping[str, object]) -> bytes:
    """A scenario's ``form = { name = value, ... }`` as a urlencoded body."""
    pieces = (
        f"{form_encoded(name, BODY_FIELD)}={form_encoded(scalar(name, value), BODY_FIELD)}"
        for name, value in table.items()
    )
    return "&".join(pieces).encode("utf-8", "surrogateescape")


def scalar(name: str, value: object) -> str:
    """A form field's value: text, a finite number or a boolean, as text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) and math.isfinite(value):
        return str(value)
    raise SpecError(f"the value of form field {name!r} must be text, a number or true/false")


def form_part(text: str, base: Path | None = None) -> Part:
    """One ``-F`` as curl reads it: ``name=value``, ``name=@file`` (an upload) or ``name=<file``
    (a text field holding the file's content), each optionally followed by ``;type=...`` and (an
    upload) ``;filename=...``."""
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise SpecError(f"-F {text!r}: give it as name=value or name=@file")
    return part(name, value, base, what=f"-F {text}")


def part(name: str, value: str, base: Path | None, what: str) -> Part:
    """A multipart field ``name`` from curl's spelling of its ``value`` (a file relative to
    ``base``); :func:`form_part` and a scenario's ``multipart`` table."""
    check_text("a form field's name", name)
    content, params = _form_params(value)
    for key, found in params.items():
        check_text(f"{what}: {key}", found)  # they go into the part's headers, as the name
    if content[:1] not in ("@", "<"):
        return Part(name, text=content, content_type=params.get("type"))
    path = (base or Path()) / content[1:]
    if not content[1:]:
        raise SpecError(f"{what}: no file after {content[0]}")
    if content[0] == "<":  # the file's content as the field's value, not an upload
        return Part(name, content=_read(what, path), content_type=params.get("type"))
    guessed = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return Part(
        name,
        content=_read(what, path),
        filename=params.get("filename", path.name),
        content_type=params.get("type", guessed),
    )


def _form_params(value: str) -> tuple[str, dict[str, str]]:
    """``content;type=...;filename=...`` split: the trailing parameters curl knows, the rest is
    the content."""
    pieces = value.split(";")
    params: dict[str, str] = {}
    while len(pieces) > 1 and pieces[-1].strip().partition("=")[0] in ("type", "filename"):
        key, _, found = pieces.pop().strip().partition("=")
        params.setdefault(key, found.strip('"'))
    return ";".join(pieces), params


def multipart(parts: Iterable[Part]) -> Multipart:
    form = Multipart(tuple(parts))
    if form.size > MAX_BODY_BYTES:
        raise SpecError(f"the form's parts are more than a request body may be ({LIMIT})")
    return form


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


def with_defaults(spec: RequestSpec, form: bool = False) -> RequestSpec:
    """The Content-Type curl sends unless a header says otherwise: data that parses as JSON
    as JSON (loadtui's rule), other data and a ``form`` (--data-urlencode) as
    application/x-www-form-urlencoded; a multipart form with its boundary."""
    given = spec.content_type
    if spec.multipart is not None:
        others = tuple((n, v) for n, v in spec.headers if n.lower() != "content-type")
        chosen = spec.multipart.content_type(given)
        return replace(spec, headers=(*others, ("Content-Type", chosen)))
    if spec.body is None or given is not None:
        return spec
    chosen = FORM_TYPE if form or not _parses_as_json(spec.body) else "application/json"
    return replace(spec, headers=(*spec.headers, ("Content-Type", chosen)))


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
            f"request {spec.name!r} names {', '.join(sorted(needed))} but has no data file "
            "to fill it from"
        )
    if len(spec.rows) * spec.body_size > MAX_BUILT_BYTES:
        raise SpecError(
            f"request {spec.name!r}: {len(spec.rows):,} rows of a {spec.body_size:,}-byte body "
            "are more than the 1 GB built before the run"
        )
    for number, row in enumerate(spec.rows, start=1):
        missing = needed - set(row)
        if missing:
            raise SpecError(
                f"{where}: row {number} has no {', '.join(sorted(missing))} "
                f"(request {spec.name!r} names it)"
            )
        _check_header_values(spec, row, f"{where}: row {number}")


def _check_header_values(spec: RequestSpec, row: Mapping[str, Any], where: str) -> None:
    for name, value in spec.headers:
        if not BODY_FIELD.search(value):
            continue
        filled = fill(value, BODY_FIELD, row, _text)
        try:
            check_text(f"{where}: the value of header {name}", filled).encode("latin-1")
        except UnicodeEncodeError:
            raise SpecError(
                f"{where}: the value of header {name} holds characters HTTP/1.1 cannot carry"
            ) from None


# ---- the bytes -----------------------------------------------------------------------------------
def encode_path(path: str) -> str:
    """The path as it goes on the wire: the fragment dropped, anything not allowed in a request
    target (non-ASCII, spaces) percent-encoded, what is already encoded left as it is."""
    path = path.partition("#")[0]
    if not path.startswith("/"):
        path = "/" + path
    return quote(path, safe=PATH_SAFE)


def fill(
    template: str, pattern: re.Pattern[str], row: Mapping[str, Any], encode: Callable[[Any], str]
) -> str:
    """``template`` with every field ``pattern`` finds in it replaced by its value in ``row``,
    encoded for where it stands: the one place a template takes its values. The template
    itself when it names no field."""
    if "{" not in template:
        return template
    return pattern.sub(lambda m: encode(row[m.group(1)]), template)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _path_value(value: Any) -> str:
    return quote(_text(value), safe="")


def _header_value(value: Any) -> str:
    """A value in a header: no CR, LF or other control character, UTF-8 bytes as they are
    (a journey's variable comes from a response)."""
    return CONTROL.sub("", _text(value)).encode("utf-8").decode("latin-1")


def _json_value(value: Any) -> str:
    return json.dumps(value)[1:-1] if isinstance(value, str) else json.dumps(value)


def _form_value(value: Any) -> str:
    return quote(_text(value), safe="")


BODY_VALUES: dict[BodyKind, Callable[[Any], str]] = {
    "json": _json_value,
    "form": _form_value,
    "text": _text,
}


def _body(spec: RequestSpec, row: Mapping[str, Any] | None) -> bytes | None:
    if spec.multipart is not None:
        if row is None:
            return spec.multipart.bytes(lambda text: text)
        return spec.multipart.bytes(lambda text: fill(text, BODY_FIELD, row, _text))
    if spec.body is None or row is None:
        return spec.body
    text = spec.body.decode("utf-8", "surrogateescape")
    filled = fill(text, BODY_FIELD, row, BODY_VALUES[spec.body_kind])
    return filled.encode("utf-8", "surrogateescape")


def _request_bytes(spec: RequestSpec, host: str, row: Mapping[str, Any] | None) -> bytes:
    """``row``: the fields of a data row and, in a journey, the user's variables."""
    path, body = spec.path, _body(spec, row)
    if row is not None:  # {{field}} first: {field} would find the inner braces of {{field}}
        path = fill(fill(path, BODY_FIELD, row, _path_value), PATH_FIELD, row, _path_value)
    headers = {"host": ("Host", host), "user-agent": ("User-Agent", f"loadtui/{__version__}")}
    headers["accept"] = ("Accept", "*/*")
    for name, value in spec.headers:
        headers[name.lower()] = (
            name,
            fill(value, BODY_FIELD, row, _header_value) if row else value,
        )
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
    data_urlencode: tuple[str, ...] = ()  # joined to -d's data with &, in order
    form: tuple[str, ...] = ()  # -F: a multipart form instead
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
    body = _shaped_body(shape)
    form = multipart(form_part(text) for text in shape.form) if shape.form else None
    sends = body is not None or form is not None
    chosen = method(shape.method) if shape.method else ("POST" if sends else "GET")
    return with_defaults(
        RequestSpec(
            name=chosen,
            method=chosen,
            headers=tuple(header(text) for text in shape.headers),
            body=body,
            multipart=form,
            expect=expect(shape.expect) if shape.expect else None,
            rows=rows(shape.data_file) if shape.data_file else (),
            order=shape.data_order,
            data_file=str(shape.data_file) if shape.data_file else None,
        ),
        form=bool(shape.data_urlencode),
    )


def _shaped_body(shape: Shape) -> bytes | None:
    """-d's data and --data-urlencode's pieces joined with ``&``, as curl does; refused with -F."""
    if shape.form and (shape.data is not None or shape.data_urlencode):
        raise SpecError("-F sends a multipart form: leave out -d and --data-urlencode (as curl)")
    pieces = [data(shape.data)] if shape.data is not None else []
    pieces += [
        data_urlencode(text).encode("utf-8", "surrogateescape") for text in shape.data_urlencode
    ]
    if len(pieces) > 1 and sum(map(len, pieces)) > MAX_BODY_BYTES:
        raise SpecError(f"-d and --data-urlencode are more than a request body may be ({LIMIT})")
    return b"&".join(pieces) if pieces else None


def from_command_line(path: str, shape: Shape) -> RequestSpec:
    return for_path(shaped(shape), path)


def unique_names(specs: Iterable[RequestSpec]) -> None:
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise SpecError(f"two requests are named {spec.name!r}: names must differ")
        seen.add(spec.name)
