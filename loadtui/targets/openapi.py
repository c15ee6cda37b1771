"""The target's own routes, read from its OpenAPI document (found by
:mod:`loadtui.targets.openapi_source`): its operations with their parameters and body, each
path joined to the server's root once, and each operation asked with values that pass the
app's checks (:mod:`loadtui.targets.examples`).

Paths: the document's ``servers[0].url`` (when it has a path) and the target's path prefix
are each put in front of a path that does not already start with them, so that
``--target http://h/api/v1`` and a document whose paths are ``/api/v1/items/`` ask
``/api/v1/items/``, never ``/api/v1/api/v1/items/``.

Everything in the document is the target's word: every string is shown as text, names and
values are bounded, ``$ref`` chains are followed only so deep.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from loadtui.engine import request_spec
from loadtui.engine.bodies import Part
from loadtui.engine.request_spec import PATH_FIELD, RequestSpec
from loadtui.targets.examples import (
    MAX_TEXT,
    NO_VALUE,
    checked,
    properties,
    resolve,
    text_of,
    value_of,
)
from loadtui.targets.target import CONTROL, Target, joined

METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
UPLOAD = "upload.txt"  # an upload field's example file: its name, and what it holds
UPLOAD_CONTENT = b"an example upload from loadtui\n"
SERVER_PATH = re.compile(r"(/[A-Za-z0-9._~!$&'()*+,;=:@%-]*)+")


@dataclass(frozen=True)
class Parameter:
    name: str
    where: str  # path, query, header, cookie
    required: bool
    type: str
    example: Any


@dataclass(frozen=True)
class FormField:
    name: str
    value: str  # as text, as a form sends it
    file: bool = False  # an upload (format binary): multipart only


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # from the server's root, prefixes joined once
    summary: str
    parameters: tuple[Parameter, ...]
    body_type: str | None  # the request body's media type, when it takes one
    body_example: Any
    form: tuple[FormField, ...] = ()  # the fields of a form or multipart body

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


def server_path(document: dict[str, Any]) -> str:
    """The path of the document's first server (``/api/v1`` of ``http://h/api/v1``), or ""
    when it has none (or one that is not a plain path)."""
    servers = document.get("servers")
    first = servers[0] if isinstance(servers, list) and servers else None
    url = first.get("url") if isinstance(first, dict) else None
    if not isinstance(url, str) or len(url) > MAX_TEXT or CONTROL.search(url) or "{" in url:
        return ""
    try:
        path = urlsplit(url).path.rstrip("/")
    except ValueError:
        return ""
    return path if SERVER_PATH.fullmatch(path or "/") else ""


def operations(document: dict[str, Any], target: Target) -> list[Operation]:
    """Every operation, in the document's order, its path from the server's root."""
    base = joined(target.url.removeprefix(target.origin), server_path(document))
    found = []
    for path, item in document["paths"].items():
        if not isinstance(path, str) or not path.startswith("/") or not isinstance(item, dict):
            continue
        if len(path) > MAX_TEXT or CONTROL.search(path):
            continue
        shared = item.get("parameters", [])
        for method in METHODS:
            operation = item.get(method)
            if isinstance(operation, dict):
                full = joined(base, path)
                found.append(_operation(document, method.upper(), full, operation, shared))
    return found


def _operation(
    document: dict[str, Any], method: str, path: str, raw: dict[str, Any], shared: Any
) -> Operation:
    raw_parameters = [*_list(shared), *_list(raw.get("parameters"))]
    parameters = tuple(
        p for p in (_parameter(document, r) for r in raw_parameters) if p is not None
    )
    body_type, body_example, form = _body(document, raw.get("requestBody"))
    summary = raw.get("summary") or raw.get("operationId") or ""
    return Operation(method, path, str(summary)[:200], parameters, body_type, body_example, form)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _given_example(raw: dict[str, Any]) -> Any:
    """A parameter's or media type's own ``example``, or the first of its ``examples``."""
    if "example" in raw and checked(raw["example"]) is not NO_VALUE:
        return raw["example"]
    examples = raw.get("examples")
    for entry in examples.values() if isinstance(examples, dict) else []:
        if isinstance(entry, dict) and checked(entry.get("value", NO_VALUE)) is not NO_VALUE:
            return entry["value"]
    return NO_VALUE


def _parameter(document: dict[str, Any], raw: Any) -> Parameter | None:
    raw = resolve(document, raw)
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        return None
    schema = resolve(document, raw.get("schema", {}))
    example = _given_example(raw)
    return Parameter(
        name=raw["name"][:100],
        where=str(raw.get("in", "query"))[:20],
        required=bool(raw.get("required", False)),
        type=_type(schema),
        example=value_of(document, schema) if example is NO_VALUE else example,
    )


def _media(content: dict[str, Any]) -> str:
    """The media type a request is sent as: JSON, else a form, else the first."""
    names = [name for name in content if isinstance(name, str)]
    for wanted in ("json", FORM, MULTIPART):
        for name in names:
            if wanted in name.lower():
                return name
    return names[0] if names else ""


def _body(document: dict[str, Any], raw: Any) -> tuple[str | None, Any, tuple[FormField, ...]]:
    raw = resolve(document, raw)
    content = raw.get("content") if isinstance(raw, dict) else None
    if not isinstance(content, dict) or not (media := _media(content)):
        return None, None, ()
    entry = content[media] if isinstance(content[media], dict) else {}
    schema = entry.get("schema", {})
    if media.lower().startswith((FORM, MULTIPART)):
        return media[:200], None, _form(document, schema)
    example = _given_example(entry)
    return media[:200], value_of(document, schema) if example is NO_VALUE else example, ()


def _form(document: dict[str, Any], schema: Any) -> tuple[FormField, ...]:
    fields = []
    for name, sub in properties(document, schema):
        value = value_of(document, sub)
        if value is not None:
            fields.append(FormField(name, text_of(value), _is_file(document, sub)))
    return tuple(fields)


def _is_file(document: dict[str, Any], schema: Any, depth: int = 0) -> bool:
    """An upload: ``format: binary`` (OpenAPI 3.0) or ``contentMediaType`` (3.1), or a list
    or choice of them."""
    schema = resolve(document, schema)
    if not isinstance(schema, dict) or depth > 3:
        return False
    if schema.get("format") == "binary" or "contentMediaType" in schema:
        return True
    options = [schema.get("items"), *_list(schema.get("anyOf")), *_list(schema.get("oneOf"))]
    return any(_is_file(document, option, depth + 1) for option in options if option)


def _type(schema: Any) -> str:
    if not isinstance(schema, dict):
        return "any"
    found = schema.get("type")
    if isinstance(found, str):
        form = schema.get("format")
        return f"{found} ({form})" if isinstance(form, str) and len(form) < 30 else found
    for key in ("anyOf", "oneOf"):
        options = [_type(s) for s in _list(schema.get(key)) if isinstance(s, dict)]
        if options:
            return " | ".join(dict.fromkeys(options))
    return "object" if "properties" in schema else "any"


def example_path(operation: Operation) -> str:
    """The operation's path with its path parameters, and its required query parameters,
    filled with values that pass their checks (a path parameter the document does not
    describe gets 1)."""
    path = operation.path
    query = []
    for parameter in operation.parameters:
        value = quote(text_of(parameter.example), safe="")
        if parameter.where == "path":
            path = path.replace("{" + parameter.name + "}", value or "1")
        elif parameter.where == "query" and parameter.required:
            query.append(f"{quote(parameter.name, safe='')}={value}")
    path = PATH_FIELD.sub("1", path)
    return path + ("?" + "&".join(query) if query else "")


def example_headers(operation: Operation) -> tuple[tuple[str, str], ...]:
    """The operation's required header parameters, with their values."""
    return tuple(
        (p.name, text_of(p.example))
        for p in operation.parameters
        if p.where == "header" and p.required
    )


def example_request(operation: Operation) -> RequestSpec:
    """The operation asked with example values: its path filled (:func:`example_path`), a JSON,
    form-urlencoded or multipart body (an upload: a small text file, :data:`UPLOAD`). Not
    checked: the values are the target's word."""
    headers = example_headers(operation)
    body = None
    kind = (operation.body_type or "").lower()
    if kind.startswith(MULTIPART):
        return _multipart_example(operation, headers)
    if kind.startswith(FORM):
        body = urlencode([(f.name, f.value) for f in operation.form]).encode()
    elif "json" in kind:
        body = json.dumps(operation.body_example).encode()
    elif isinstance(operation.body_example, str):
        body = operation.body_example.encode()
    if operation.body_type is not None:
        headers += (("Content-Type", operation.body_type),)
    return RequestSpec(
        name=operation.name,
        method=operation.method,
        path=example_path(operation),
        headers=headers,
        body=body,
    )


def _multipart_example(operation: Operation, headers: tuple[tuple[str, str], ...]) -> RequestSpec:
    parts = (
        Part(f.name, content=UPLOAD_CONTENT, filename=UPLOAD, content_type="text/plain")
        if f.file
        else Part(f.name, text=f.value)
        for f in operation.form
    )
    spec = RequestSpec(
        name=operation.name,
        method=operation.method,
        path=example_path(operation),
        headers=headers,
        multipart=request_spec.multipart(parts),
    )
    return request_spec.with_defaults(spec)  # its Content-Type, with the boundary
