"""`loadtui routes`: the demo's route variants; with `--target URL` (and `loadtui scenario
--target URL`) the app's own operations, from its OpenAPI document, listed or written as a
starting scenario."""

from __future__ import annotations

import sys
import textwrap
from typing import TYPE_CHECKING

from loadtui import exits
from loadtui.safe_text import shown

if TYPE_CHECKING:  # the target and its OpenAPI walk (httpx): not loaded to list the demo's routes
    from loadtui.targets.openapi import Operation
    from loadtui.targets.target import Target


def _operations(target: Target, command: str) -> list[Operation] | None:
    from loadtui.targets.openapi import OpenAPIError, fetch, operations
    from loadtui.targets.target import TargetError, check_reachable

    try:
        check_reachable(target)
        found = operations(fetch(target))
    except (TargetError, OpenAPIError) as exc:
        print(f"loadtui {command}: {shown(str(exc))}", file=sys.stderr)
        return None
    if not found:
        print(f"loadtui {command}: {target.url} lists no operations", file=sys.stderr)
        return None
    return found


def _describe(operation: Operation) -> list[str]:
    lines = [f"{operation.method:<7} {shown(operation.path)}"]
    if operation.summary:
        lines.append(f"        {shown(operation.summary.splitlines()[0])}")
    for parameter in operation.parameters:
        required = "required" if parameter.required else "optional"
        lines.append(
            f"        {parameter.where} {shown(parameter.name)}: {shown(parameter.type)}, "
            f"{required}"
        )
    if operation.body_type is not None:
        lines.append(f"        body {shown(operation.body_type)}")
    return lines


def print_operations(target: Target) -> int:
    found = _operations(target, "routes")
    if found is None:
        return exits.FAILED
    for operation in found:
        print("\n".join(_describe(operation)))
    return exits.OK


def print_scenario(target: Target) -> int:
    from loadtui.targets.openapi import scenario_toml

    found = _operations(target, "scenario")
    if found is None:
        return exits.FAILED
    sys.stdout.write(scenario_toml(target, found))
    return exits.OK


def print_variants() -> int:
    """The demo's route variants: key, path, pattern and lesson."""
    from loadtui.server.variants import VARIANTS

    for v in VARIANTS:
        print(f"{v.key:>3}  {v.path}")
        print(f"     {v.pattern}")
        print(textwrap.fill(v.lesson, 80, initial_indent=" " * 7, subsequent_indent=" " * 7))
    return exits.OK
