"""A starting scenario file written from a target's OpenAPI operations (``loadtui scenario``):
every operation once, weight 1, its path filled with values that pass the app's checks, its body
as the scenario file takes it: ``data`` (JSON), ``form = {...}``, ``multipart = {...}``."""

from __future__ import annotations

import json
import re

from loadtui.safe_text import shown
from loadtui.targets.openapi import (
    FORM,
    MULTIPART,
    UPLOAD,
    FormField,
    Operation,
    example_headers,
    example_path,
    example_request,
)
from loadtui.targets.target import Target

BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _string(text: str) -> str:
    """``text`` as a TOML basic string: JSON's, but with characters beyond the BMP as they are
    (TOML has no surrogate escapes) and DEL escaped (TOML allows no raw control character)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _key(name: str) -> str:
    return name if BARE_KEY.fullmatch(name) else _string(name)


def _table(pairs: list[tuple[str, str]]) -> str:
    return "{ " + ", ".join(f"{_key(name)} = {_string(value)}" for name, value in pairs) + " }"


def _fields(fields: tuple[FormField, ...]) -> list[tuple[str, str]]:
    return [(f.name, f"@{UPLOAD}" if f.file else f.value) for f in fields]


def _body_lines(operation: Operation) -> list[str]:
    """The body as the scenario file takes it, and the headers (a form's Content-Type is the
    scenario loader's to write, with a multipart body's boundary)."""
    kind = (operation.body_type or "").lower()
    headers = list(example_headers(operation))
    if kind.startswith(FORM):
        lines = [f"form = {_table(_fields(operation.form))}"]
    elif kind.startswith(MULTIPART):
        lines = [f"multipart = {_table(_fields(operation.form))}"]
        if any(f.file for f in operation.form):
            lines.insert(0, f'# "@{UPLOAD}": a file beside this scenario; write it or name yours')
    else:
        request = example_request(operation)
        lines = [] if request.body is None else [f"data = {_string(request.body.decode())}"]
        headers = list(request.headers)
    if headers:
        lines.append(f"headers = {_table(headers)}")
    return lines


def scenario_toml(target: Target, found: list[Operation], where: str) -> str:
    """A starting scenario: every operation once, weight 1, example values filled in."""
    lines = [
        f"# loadtui scenario for {shown(target.origin)}, written from its OpenAPI document",
        f"# {shown(where)}",
        "# Edit the weights, the values and the expected statuses; remove what you do not",
        "# want loaded. Paths are from the server's root: run it with the root as the target,",
        f"#   loadtui run --scenario THIS_FILE --target {shown(target.origin)}",
        "",
    ]
    for operation in found:
        if operation.summary:
            lines.append(f"# {shown(operation.summary.splitlines()[0])}")
        lines += [
            "[[requests]]",
            f"name = {_string(operation.name)}",
            f"method = {_string(operation.method)}",
            f"path = {_string(example_path(operation))}",
            "weight = 1",
            *_body_lines(operation),
            "",
        ]
    return "\n".join(lines)
