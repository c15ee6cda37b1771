"""The target's own routes, read from its OpenAPI document (FastAPI serves ``/openapi.json``):
its operations with their parameters and body, example values from the schemas, and a starting
scenario file written from them (``loadtui routes --target``, ``loadtui scenario --target``).

Everything in the document is the target's word: it is read with a deadline and a size cap,
every string is shown as text, ``$ref`` chains are followed only so deep.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from loadtui.engine.request_spec import RequestSpec
from loadtui.safe_text import shown
from loadtui.targets.target import Target

OPENAPI_PATH = "/openapi.json"
TIMEOUT_S = 5.0
MAX_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 8
METHODS = ("get", "post", "put", "patch", "delete", "head", "options")


class OpenAPIError(Exception):
    """No usable OpenAPI document; the message says why, on one line."""


@dataclass(frozen=True)
class Parameter:
    name: str
    where: str  # path, query, header, cookie
    required: bool
    type: str
    example: Any


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    parameters: tuple[Parameter, ...]
    body_type: str | None  # the request body's media type, when it takes one
    body_example: Any

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


def fetch(target: Target) -> dict[str, Any]:
    """The target's OpenAPI document, or OpenAPIError."""
    url = f"{target.url}{OPENAPI_PATH}"
    trust = target.ssl_context() or True  # https: -k and --cacert as the load has them
    try:
        with (
            httpx.Client(
                timeout=TIMEOUT_S, trust_env=False, follow_redirects=False, verify=trust
            ) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise OpenAPIError(f"{url} answered HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_raw():
                body += chunk
                if len(body) > MAX_BYTES:
                    raise OpenAPIError(f"{url} is larger than {MAX_BYTES // 2**20} MB")
    except httpx.HTTPError as exc:
        raise OpenAPIError(f"{url}: {type(exc).__name__}") from None
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise OpenAPIError(f"{url} is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        raise OpenAPIError(f"{url} is not an OpenAPI document (no paths)")
    return document


def operations(document: dict[str, Any]) -> list[Operation]:
    """Every operation, in the document's order."""
    found = []
    for path, item in document["paths"].items():
        if not isinstance(path, str) or not path.startswith("/") or not isinstance(item, dict):
            continue
        shared = item.get("parameters", [])
        for method in METHODS:
            operation = item.get(method)
            if isinstance(operation, dict):
                found.append(_operation(document, method.upper(), path, operation, shared))
    return found


def _operation(
    document: dict[str, Any], method: str, path: str, raw: dict[str, Any], shared: Any
) -> Operation:
    raw_parameters = [*_list(shared), *_list(raw.get("parameters"))]
    parameters = tuple(
        p for p in (_parameter(document, r) for r in raw_parameters) if p is not None
    )
    body_type, body_example = _body(document, raw.get("requestBody"))
    summary = raw.get("summary") or raw.get("operationId") or ""
    return Operation(method, path, str(summary)[:200], parameters, body_type, body_example)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def resolve(document: dict[str, Any], node: Any, depth: int = 0) -> Any:
    """``node`` with a local ``$ref`` followed (``#/components/...``)."""
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and depth < MAX_DEPTH:
        reference = node["$ref"]
        if not reference.startswith("#/"):
            return {}
        node = document
        for part in reference[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        depth += 1
    return node


def _parameter(document: dict[str, Any], raw: Any) -> Parameter | None:
    raw = resolve(document, raw)
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        return None
    schema = resolve(document, raw.get("schema", {}))
    example = raw.get("example", example_of(document, schema))
    return Parameter(
        name=raw["name"][:100],
        where=str(raw.get("in", "query")),
        required=bool(raw.get("required", False)),
        type=_type(schema),
        example=example,
    )


def _body(document: dict[str, Any], raw: Any) -> tuple[str | None, Any]:
    raw = resolve(document, raw)
    content = raw.get("content") if isinstance(raw, dict) else None
    if not isinstance(content, dict) or not content:
        return None, None
    media = "application/json" if "application/json" in content else next(iter(content))
    entry = content[media] if isinstance(content[media], dict) else {}
    if "example" in entry:
        return str(media), entry["example"]
    return str(media), example_of(document, entry.get("schema", {}))


def _type(schema: Any) -> str:
    if not isinstance(schema, dict):
        return "any"
    found = schema.get("type")
    if isinstance(found, str):
        return found
    for key in ("anyOf", "oneOf"):
        options = [_type(s) for s in _list(schema.get(key)) if isinstance(s, dict)]
        if options:
            return " | ".join(dict.fromkeys(options))
    return "object" if "properties" in schema else "any"


def example_of(document: dict[str, Any], schema: Any, depth: int = 0) -> Any:
    """A value for ``schema``: its example or default, else one made from its type."""
    schema = resolve(document, schema)
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return None
    for key in ("example", "default"):
        if key in schema:
            return schema[key]
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [s for s in _list(schema.get(key)) if resolve(document, s) != {"type": "null"}]
        if options:
            return example_of(document, options[0], depth + 1)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {
            str(name): example_of(document, sub, depth + 1)
            for name, sub in (properties.items() if isinstance(properties, dict) else [])
        }
    if kind == "array":
        return [example_of(document, schema.get("items", {}), depth + 1)]
    return {"integer": 1, "number": 1.0, "boolean": True, "string": "string"}.get(str(kind))


def example_path(operation: Operation) -> str:
    """The operation's path with its path parameters, and its required query parameters,
    filled with example values."""
    path = operation.path
    query = []
    for parameter in operation.parameters:
        value = "1" if parameter.example is None else str(parameter.example)
        if parameter.where == "path":
            path = path.replace("{" + parameter.name + "}", value)
        elif parameter.where == "query" and parameter.required:
            query.append(f"{parameter.name}={value}")
    return path + ("?" + "&".join(query) if query else "")


def example_request(operation: Operation) -> RequestSpec:
    """The operation asked with example values: its path filled (:func:`example_path`), a JSON
    body from its schema's example. Not checked: the values are the target's word."""
    headers: tuple[tuple[str, str], ...] = ()
    body = None
    if operation.body_type is not None:
        if "json" in operation.body_type:
            body = json.dumps(operation.body_example).encode()
        headers = (("Content-Type", operation.body_type),)
    return RequestSpec(
        name=operation.name,
        method=operation.method,
        path=example_path(operation),
        headers=headers,
        body=body,
    )


def _toml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a TOML basic string


def scenario_toml(target: Target, found: list[Operation]) -> str:
    """A starting scenario: every operation once, weight 1, example values filled in."""
    lines = [
        f"# loadtui scenario for {target.url}, written from its OpenAPI document.",
        "# Edit the weights, the values and the expected statuses; remove what you do not",
        "# want loaded. Run it: loadtui run --scenario THIS_FILE --target URL",
        "",
    ]
    for operation in found:
        if operation.summary:
            lines.append(f"# {shown(operation.summary.splitlines()[0])}")
        request = example_request(operation)
        lines += [
            "[[requests]]",
            f"name = {_toml_string(request.name)}",
            f"method = {_toml_string(request.method)}",
            f"path = {_toml_string(request.path)}",
            "weight = 1",
        ]
        if request.body is not None:
            lines.append(f"data = {_toml_string(request.body.decode())}")
        if request.headers:
            table = ", ".join(f"{_toml_string(n)} = {_toml_string(v)}" for n, v in request.headers)
            lines.append(f"headers = {{ {table} }}")
        lines.append("")
    return "\n".join(lines)
