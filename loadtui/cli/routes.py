"""`loadtui routes`: the demo's route variants; with `--target URL` (and `loadtui scenario
--target URL`) the app's own operations, from its OpenAPI document (--openapi, or found where
the app serves it), listed or written as a starting scenario."""

from __future__ import annotations

import sys
import textwrap
from typing import TYPE_CHECKING

from loadtui import exits
from loadtui.exits import UsageError
from loadtui.safe_text import shown

if TYPE_CHECKING:  # the target and its OpenAPI walk (httpx): not loaded to list the demo's routes
    from loadtui.targets.openapi import Operation
    from loadtui.targets.target import Target


def _operations(
    target: Target, command: str, given: str | None
) -> tuple[list[Operation], str] | None:
    """The target's operations and where its document was found; None once a line says why
    there are none. A document named with --openapi that cannot be used is a usage error."""
    from loadtui.targets.openapi import operations
    from loadtui.targets.openapi_source import OpenAPIError, find, read
    from loadtui.targets.target import TargetError, check_reachable

    try:
        if given is not None:
            found = read(given, target)
        else:
            check_reachable(target)
            found = find(target)
    except OpenAPIError as exc:
        if given is not None:
            raise UsageError(f"--openapi {exc}") from None
        print(f"loadtui {command}: {shown(str(exc))}; give --openapi URL", file=sys.stderr)
        return None
    except TargetError as exc:
        print(f"loadtui {command}: {shown(str(exc))}", file=sys.stderr)
        return None
    listed = operations(found.document, target)
    if not listed:
        print(f"loadtui {command}: {shown(found.where)} lists no operations", file=sys.stderr)
        return None
    return listed, found.where


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
        fields = ", ".join(f.name + (" (file)" if f.file else "") for f in operation.form)
        lines.append(
            f"        body {shown(operation.body_type)}{shown(': ' + fields if fields else '')}"
        )
    return lines


def print_operations(target: Target, given: str | None) -> int:
    found = _operations(target, "routes", given)
    if found is None:
        return exits.FAILED
    listed, where = found
    print(f"# {len(listed)} operations, from {shown(where)}")
    for operation in listed:
        print("\n".join(_describe(operation)))
    return exits.OK


def print_scenario(target: Target, given: str | None) -> int:
    from loadtui.targets.scenario_writer import scenario_toml

    found = _operations(target, "scenario", given)
    if found is None:
        return exits.FAILED
    sys.stdout.write(scenario_toml(target, *found))
    return exits.OK


def print_variants() -> int:
    """The demo's route variants: key, path, pattern and lesson."""
    from loadtui.server.variants import VARIANTS

    for v in VARIANTS:
        print(f"{v.key:>3}  {v.path}")
        print(f"     {v.pattern}")
        print(textwrap.fill(v.lesson, 80, initial_indent=" " * 7, subsequent_indent=" " * 7))
    return exits.OK
