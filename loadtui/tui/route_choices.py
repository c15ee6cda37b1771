"""What the TUI's ←/→ steps through: the demo's variants, the given routes, a scenario's whole mix
and then each of its requests, or a target's own operations from its OpenAPI document. Each
choice carries how it is asked (the request options of the command line)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from loadtui.engine import request_spec
from loadtui.engine.request_spec import RequestSpec, SpecError
from loadtui.server.variants import VARIANTS
from loadtui.targets.target import Target
from loadtui.tui.widgets.pane import RouteChoice

if TYPE_CHECKING:  # the OpenAPI walk (httpx) is loaded only for a --target without --route
    from loadtui.targets.openapi import Operation


def demo(shape: RequestSpec | None = None) -> list[RouteChoice]:
    return [RouteChoice(v.key, v.key, v.pattern, shape=shape) for v in VARIANTS]


def given(routes: list[str], shape: RequestSpec | None) -> list[RouteChoice]:
    return [RouteChoice(route, route, "", shape=shape) for route in routes]


def scenario(path: Path, mix: tuple[RequestSpec, ...]) -> list[RouteChoice]:
    """The whole mix first, then each of its requests on its own (as the file asks it). A
    journey's setup runs per user in every choice: before the whole, before each request."""
    setup = tuple(spec for spec in mix if spec.stage == "setup")
    steps = [spec for spec in mix if spec.stage != "setup"]
    flow = any(spec.stage == "flow" for spec in steps)
    kind = "flow" if flow else "mix"
    what = f"{kind} of {len(steps)} requests" + (f" after {len(setup)} setup" if setup else "")
    whole = RouteChoice(path.name, path.name, what, scenario=mix)
    alone = [
        RouteChoice(spec.path, spec.name, f"{spec.method} {spec.path}", scenario=(*setup, spec))
        for spec in steps
        if _alone(spec, setup)
    ]
    return [whole, *alone]


def _alone(spec: RequestSpec, setup: tuple[RequestSpec, ...]) -> bool:
    """A request can be sent on its own (after the setup): it needs no earlier flow step's."""
    return spec.variables <= {e.variable for s in setup for e in s.extract}


@dataclass(frozen=True)
class TargetRoutes:
    routes: list[RouteChoice]
    notice: str  # where they came from, one line
    target: Target  # the target they are asked of (its root, for operations' full paths)


def fallback(shape: RequestSpec | None, why: str) -> list[RouteChoice]:
    """``/``, loaded because nothing better was found: the pane says so, and what it answers."""
    return [RouteChoice("/", "/", "fallback", shape=shape, chosen=why)]


def from_openapi(target: Target, shape: RequestSpec | None, given: str | None) -> TargetRoutes:
    """The target's operations (from the document at ``given``, else where the target serves
    it), each asked with example values and the command line's headers and --expect; the demo's
    variants when the target is loadtui's demo server. Without a usable document: ``/`` and the
    one line saying so (the target's reason, as text); OpenAPIError when ``given`` is unusable."""
    from loadtui.targets import openapi
    from loadtui.targets.openapi_source import OpenAPIError, find, read

    try:
        found = read(given, target) if given is not None else find(target)
    except OpenAPIError as exc:
        if given is not None:
            raise
        notice = f"{exc}: loading / (give --route PATH or --openapi URL)"
        return TargetRoutes(fallback(shape, exc.short), notice, target)
    listed = openapi.operations(found.document, target)
    paths = {operation.path for operation in listed}
    if all(variant.path in paths for variant in VARIANTS):
        return TargetRoutes(demo(shape), "", target)
    root = replace(target, url=target.origin)  # the operations' paths are from the root
    choices = [c for c in (_operation(root, o, shape) for o in listed) if c is not None]
    if not choices:
        why = f"{found.where} lists no operations loadtui can ask"
        notice = f"{why}: loading / (give --route PATH)"
        return TargetRoutes(fallback(shape, why), notice, target)
    skipped = len(listed) - len(choices)
    note = f" ({skipped} left out: values the examples cannot fill)"
    notice = f"←/→: the {len(choices)} operations of {found.where}{note if skipped else ''}"
    return TargetRoutes(choices, notice, root)


def _operation(
    target: Target, operation: Operation, shape: RequestSpec | None
) -> RouteChoice | None:
    """One operation as a choice, or None when its example values do not make a request that
    can be sent (a control character in a value or header, a form beyond the body's bound)."""
    from loadtui.targets.openapi import example_request

    try:
        asked = example_request(operation)
        given_headers = shape.headers if shape is not None else ()
        # a header given on the command line replaces the example's of the same name
        overridden = {name.lower() for name, _ in given_headers}
        examples = tuple(
            request_spec.header(f"{n}: {v}")
            for n, v in asked.headers
            if n.lower() not in overridden
        )
        expect = shape.expect if shape is not None else None
        asked = replace(asked, headers=examples + given_headers, expect=expect)
        request_spec.for_path(asked, target.path_for(asked.path))
    except SpecError:
        return None
    filled = asked.path if asked.path != operation.path else ""
    return RouteChoice(asked.path, operation.name, filled, shape=asked)
