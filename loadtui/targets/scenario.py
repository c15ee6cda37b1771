"""A request mix, or a journey, from a TOML file (``loadtui run --scenario FILE.toml``): named
requests, each user picking one by weight for every request it sends (``[[requests]]``) or
sending the steps of ``[[flow]]`` in order, again and again; before either, the ``[[setup]]``
steps once per user, in order (a login, say). See :mod:`loadtui.targets.journey_check` for
``extract`` and the ``{{variables}}`` it fills.

    headers = { Authorization = "Bearer secret" }     # optional: sent with every request

    [[requests]]
    name = "list orders"
    path = "/orders?limit=10"
    weight = 3                                        # default 1

    [[requests]]
    name = "create order"
    method = "POST"                                   # default GET, POST with a body
    path = "/orders"
    json = { item = "{{item}}", qty = 1 }             # or: data = "text", data = "@body.json",
                                                      # form = { a = "1" } (urlencoded), or
                                                      # multipart = { f = "@upload.bin" }
    data_file = "items.jsonl"                         # rows for the {{...}} and {...} fields
    data_order = "random"                             # default round-robin
    expect = [201]                                    # default: any status below 400
    headers = { "X-Trace" = "loadtui" }

    [load]                                            # optional: the open loop's rate
    rate = "10@10s, 50:200@60s"                       # (loadtui.targets.scenario_load)

Paths of files are relative to the scenario file. Every mistake is one line naming the file and
the request (or, for TOML itself, the line).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from loadtui.engine import request_spec
from loadtui.engine.bodies import Multipart
from loadtui.engine.request_spec import RequestSpec, SpecError
from loadtui.targets import journey_check

KEYS = {
    "name",
    "method",
    "path",
    "weight",
    "headers",
    "data",
    "json",
    "form",
    "multipart",
    "data_file",
    "data_order",
    "expect",
    "extract",
}
BODY_KEYS = ("data", "json", "form", "multipart")
MAX_REQUESTS = 100
STAGES = {"setup": "setup", "requests": "mix", "flow": "flow"}  # table -> RequestSpec.stage


def load(path: Path) -> list[RequestSpec]:
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not TOML: {exc}") from None
    unknown = set(document) - {"headers", "load", *STAGES}  # [load]: scenario_load's
    if unknown:
        raise SpecError(
            f"{path}: unknown key {sorted(unknown)[0]!r} (headers, load, setup, requests, flow)"
        )
    common = _headers(path, "headers", document.get("headers", {}))
    if "requests" in document and "flow" in document:
        raise SpecError(
            f"{path}: give [[requests]] (a weighted mix) or [[flow]] (in order), not both"
        )
    tables = [(stage, _tables(path, document, key)) for key, stage in STAGES.items()]
    if not any(found for stage, found in tables if stage != "setup"):
        raise SpecError(f"{path}: no [[requests]] or [[flow]] tables")
    count = sum(len(found) for _, found in tables)
    if count > MAX_REQUESTS:
        raise SpecError(f"{path}: {count} requests, more than {MAX_REQUESTS}")
    specs = [
        _request(path, number, table, common, stage)
        for stage, found in tables
        for number, table in enumerate(found, start=1)
    ]
    try:
        request_spec.unique_names(specs)
        return journey_check.checked(specs)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None


def _tables(path: Path, document: dict[str, Any], key: str) -> list[dict[str, Any]]:
    raw = document.get(key, [])
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        raise SpecError(f"{path}: {key} must be [[{key}]] tables")
    return raw


def _headers(path: Path, where: str, table: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(table, dict):
        raise SpecError(f"{path}: {where} must be a table of name = value")
    try:
        return tuple(request_spec.header(f"{name}: {value}") for name, value in table.items())
    except SpecError as exc:
        raise SpecError(f"{path}: {where}: {exc}") from None


def _request(
    path: Path,
    number: int,
    table: dict[str, Any],
    common: tuple[tuple[str, str], ...],
    stage: request_spec.Stage = "mix",
) -> RequestSpec:
    name = table.get("name")
    kind = {"mix": "request", "setup": "setup step", "flow": "flow step"}[stage]
    where = f"{kind} {number}" + (f" ({name!r})" if isinstance(name, str) else "")
    try:
        if stage != "mix" and "weight" in table:
            raise SpecError("weight is for [[requests]] (a mix); steps go in order")
        spec = _checked(path, table, common)
        return replace(spec, stage=stage, extract=journey_check.extractions(table))
    except SpecError as exc:
        raise SpecError(f"{path}: {where}: {exc}") from None


def _text(table: dict[str, Any], key: str, default: str | None = None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value:
        raise SpecError(f"{key} must be text")
    return value


def _checked(path: Path, table: dict[str, Any], common: tuple[tuple[str, str], ...]) -> RequestSpec:
    unknown = set(table) - KEYS
    if unknown:
        raise SpecError(f"unknown key {sorted(unknown)[0]!r}")
    name = request_spec.check_text("name", _text(table, "name"))
    route = request_spec.check_text("path", _text(table, "path"))
    body, form = _body(path, table)
    default_method = "POST" if body is not None or form is not None else "GET"
    order = table.get("data_order", "round-robin")
    if order not in ("round-robin", "random"):
        raise SpecError(f"data_order {order!r} is not round-robin or random")
    data_file = path.parent / _text(table, "data_file") if "data_file" in table else None
    expected = table.get("expect")
    if expected is not None and not (
        isinstance(expected, list) and all(isinstance(s, int) for s in expected)
    ):
        raise SpecError("expect must be a list of status codes")
    spec = RequestSpec(
        name=name,
        method=request_spec.method(_text(table, "method", default_method)),
        path=route,
        headers=common + _headers(path, "headers", table.get("headers", {})),
        body=body,
        multipart=form,
        weight=request_spec.weight(table.get("weight", 1), name),
        expect=request_spec.expect(",".join(map(str, expected))) if expected else None,
        rows=request_spec.rows(data_file) if data_file else (),
        order=order,
        data_file=str(data_file) if data_file else None,
    )
    # its fields are checked once the journey says which are variables (journey_check)
    return request_spec.with_defaults(spec, form="form" in table)


def _body(path: Path, table: dict[str, Any]) -> tuple[bytes | None, Multipart | None]:
    """The step's body: at most one of data, json, form (urlencoded) and multipart."""
    given = [key for key in BODY_KEYS if key in table]
    if len(given) > 1:
        raise SpecError(f"give one body key of {', '.join(BODY_KEYS)}, not {' and '.join(given)}")
    if "json" in table:
        return json.dumps(table["json"]).encode(), None
    if "data" in table:
        return request_spec.data(_text(table, "data"), base=path.parent), None
    if "form" in table:
        return request_spec.form_table(_table(table, "form")), None
    if "multipart" in table:
        parts = (
            request_spec.part(
                name, request_spec.scalar(name, value), path.parent, f"multipart {name}"
            )
            for name, value in _table(table, "multipart").items()
        )
        return None, request_spec.multipart(parts)
    return None, None


def _table(table: dict[str, Any], key: str) -> dict[str, Any]:
    value = table[key]
    if not isinstance(value, dict):
        raise SpecError(f"{key} must be a table of name = value")
    return value
