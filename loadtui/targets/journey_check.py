"""A scenario's journey checked before any work: what each step extracts, and that every
``{{name}}`` a step uses is set before it is sent.

A step may ``extract = { token = "json:access_token", loc = "header:Location", sess =
"cookie:session" }`` into its user's variables. A name a step's templates use is a variable if
some step extracts it, else a field of the step's data rows. A variable must be set before the
step runs: by an earlier ``[[setup]]`` step; in a ``[[flow]]``, by an earlier flow step too (a
step that fails sends the user back to the flow's first step, so a later step never runs with
what an earlier one failed to give). A ``[[requests]]`` mix has no order: its requests use what
the setup set. A data-row field of the same name stands in until the variable is set.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from loadtui.engine import extract, request_spec
from loadtui.engine.extract import Extraction
from loadtui.engine.request_spec import RequestSpec, SpecError


def extractions(table: dict[str, Any]) -> tuple[Extraction, ...]:
    """A step's ``extract`` table, parsed."""
    raw = table.get("extract", {})
    if not isinstance(raw, dict):
        raise SpecError('extract must be a table: { name = "json:path", ... }')
    return tuple(extract.parse(name, text) for name, text in raw.items())


def checked(specs: list[RequestSpec]) -> list[RequestSpec]:
    """``specs`` (setup steps first) with their ``variables`` marked; SpecError (one line) for a
    variable used before any step sets it."""
    extracted = {e.variable for spec in specs for e in spec.extract}
    setup_sets: set[str] = set()
    flow_sets: set[str] = set()
    marked = []
    for spec in specs:
        available = setup_sets | (flow_sets if spec.stage == "flow" else set())
        variables = frozenset(spec.fields() & extracted)
        _check_available(spec, variables, available)
        marked.append(replace(spec, variables=variables))
        request_spec.check_fields(marked[-1])
        sets = {e.variable for e in spec.extract}
        (setup_sets if spec.stage == "setup" else flow_sets).update(sets)
    return marked


def _check_available(spec: RequestSpec, variables: frozenset[str], available: set[str]) -> None:
    rows_have = set.intersection(*(set(row) for row in spec.rows)) if spec.rows else set()
    for name in sorted(variables - available - rows_have):
        if name in {e.variable for e in spec.extract} and spec.stage == "setup":
            raise SpecError(f"setup step {spec.name!r} uses {{{{{name}}}}}, which only it sets")
        where = {
            "setup": "no earlier [[setup]] step extracts it",
            "flow": "no [[setup]] or earlier [[flow]] step extracts it",
            "mix": "no [[setup]] step extracts it (a mix has no order)",
        }[spec.stage]
        raise SpecError(
            f"{spec.name!r} uses {{{{{name}}}}} before any step sets it: {where}"
            " and its data file has no such field"
        )
