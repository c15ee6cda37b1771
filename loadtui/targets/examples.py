"""A value for an OpenAPI schema, made to pass the app's validation: the document's own value
when it gives one (example, examples, default, const, an enum's first), else one made from the
schema's type and format (a valid uuid, a date, an email, a number within its bounds, a string
of an allowed length).

The document's values are the target's word: one that is not plain JSON of a bounded size (a
string of at most MAX_TEXT characters, a finite number) is left out and a value is made instead.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 8
MAX_TEXT = 1000  # characters of a value taken from the document
MAX_JSON = 16 * 1024  # an example object or list, encoded
MAX_ITEMS = 10  # items made for an array with minItems
NO_VALUE = object()

# Values that pass the format's check in pydantic (and so in FastAPI).
FORMATS = {
    "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "date": "2024-01-01",
    "date-time": "2024-01-01T00:00:00Z",
    "time": "12:00:00",
    "duration": "P1D",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "iri": "https://example.com/",
    "uri-reference": "https://example.com/",
    "hostname": "example.com",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
    "byte": "c3RyaW5n",
}
LITERAL_PATTERN = re.compile(r"\^?([A-Za-z0-9_.-]{1,100})\$?")  # "^password$" allows one value


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


def checked(value: Any) -> Any:
    """``value`` when it is plain JSON of a bounded size, else NO_VALUE."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else NO_VALUE
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else NO_VALUE
    if isinstance(value, list | dict):
        try:
            encoded = json.dumps(value, allow_nan=False)
        except (ValueError, TypeError, RecursionError):
            return NO_VALUE
        return value if len(encoded) <= MAX_JSON else NO_VALUE
    return NO_VALUE


def given_value(schema: Any) -> Any:
    """The value the document gives for ``schema`` (checked), or NO_VALUE."""
    if not isinstance(schema, dict):
        return NO_VALUE
    found = [schema[key] for key in ("example", "default", "const") if key in schema]
    for key in ("examples", "enum"):
        if isinstance(schema.get(key), list) and schema[key]:
            found.append(schema[key][0])
    for value in found:
        if checked(value) is not NO_VALUE:
            return value
    return NO_VALUE


def value_of(document: dict[str, Any], schema: Any, depth: int = 0) -> Any:
    """A value for ``schema``: the document's own, else one made from its type and format."""
    schema = resolve(document, schema)
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return None
    given = given_value(schema)
    if given is not NO_VALUE:
        return given
    for key in ("anyOf", "oneOf", "allOf"):
        options = [s for s in _list(schema.get(key)) if resolve(document, s) != {"type": "null"}]
        if options:
            return value_of(document, options[0], depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):  # 3.1: ["string", "null"]
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or "properties" in schema:
        return _object(document, schema, depth)
    if kind == "array":
        count = min(MAX_ITEMS, max(1, _bound(schema.get("minItems")) or 0))
        return [value_of(document, schema.get("items", {}), depth + 1)] * count
    if kind in ("integer", "number"):
        return _number(schema, integer=kind == "integer")
    if kind == "boolean":
        return True
    if kind == "string":
        return _string(schema)
    return None


def properties(document: dict[str, Any], schema: Any) -> list[tuple[str, Any]]:
    """The properties of an object schema a request sends: the required ones, and the others
    the document gives a value for (a value made for an optional one may fail its checks)."""
    schema = resolve(document, schema)
    if not isinstance(schema, dict):
        return []
    props = schema.get("properties")
    required = set(s for s in _list(schema.get("required")) if isinstance(s, str))
    found = []
    for name, sub in props.items() if isinstance(props, dict) else []:
        if not isinstance(name, str) or len(name) > MAX_TEXT:
            continue
        if name in required or given_value(resolve(document, sub)) not in (NO_VALUE, None):
            found.append((name, sub))
    return found


def _object(document: dict[str, Any], schema: dict[str, Any], depth: int) -> dict[str, Any]:
    return {name: value_of(document, sub, depth + 1) for name, sub in properties(document, schema)}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _bound(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return None


def _number(schema: dict[str, Any], *, integer: bool) -> int | float:
    """1 when the bounds allow it, else the nearest value they allow."""
    step = 1 if integer else 0.5
    low, high = _bound(schema.get("minimum")), _bound(schema.get("maximum"))
    lows = [low if low is not None else -math.inf]
    highs = [high if high is not None else math.inf]
    # 3.1 writes an exclusive bound as a number, 3.0 as a flag beside minimum/maximum
    above, below = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if (bound := _bound(above)) is not None or (above is True and low is not None):
        lows.append((low if bound is None else bound) + step)  # type: ignore[operator]
    if (bound := _bound(below)) is not None or (below is True and high is not None):
        highs.append((high if bound is None else bound) - step)  # type: ignore[operator]
    value = min(max(1.0, *lows), *highs)
    multiple = _bound(schema.get("multipleOf"))
    if multiple and multiple > 0 and value % multiple:
        value = math.ceil(value / multiple) * multiple
    return math.ceil(value) if integer else float(value)


def _string(schema: dict[str, Any]) -> str:
    form = schema.get("format")
    if isinstance(form, str) and form in FORMATS:
        return FORMATS[form]
    pattern = schema.get("pattern")
    literal = LITERAL_PATTERN.fullmatch(pattern) if isinstance(pattern, str) else None
    if literal is not None and pattern.startswith("^") and pattern.endswith("$"):
        return literal.group(1)
    text = "string"
    least, most = _bound(schema.get("minLength")), _bound(schema.get("maxLength"))
    if least is not None and len(text) < least:
        text = "s" * min(int(least), MAX_TEXT)
    if most is not None and len(text) > most:
        text = text[: max(0, int(most))]
    return text


def text_of(value: Any) -> str:
    """A value as it goes in a path, a query or a form field: JSON's spelling of true, false
    and numbers; the first item of a list; an object as JSON; nothing for null."""
    if isinstance(value, list):
        return text_of(value[0]) if value else ""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)
