"""What a run is asked to be: its route (or mix), its load, its target and its engines.

Light on purpose: the command line and the TUI check a run before anything starts, without
loading the runner (its engines, probe and HTTP client).
"""

from __future__ import annotations

from dataclasses import dataclass

from loadtui.engine import request_spec
from loadtui.engine.plan import LoadPlan
from loadtui.engine.request_spec import RequestSpec
from loadtui.fleet.engines import Cluster
from loadtui.server.variants import Variant, find_variant
from loadtui.targets.target import Target


@dataclass(frozen=True)
class RunSpec:
    route: str  # a variant key ("5") or a path; a scenario's name with ``scenario``
    plan: LoadPlan
    target: Target | None = None  # None: spawn a fresh demo server
    threads: int | None = None  # for a spawned server
    shape: RequestSpec | None = None  # how the route is asked (None: a plain GET)
    scenario: tuple[RequestSpec, ...] = ()  # a mix of named requests instead of the route
    engines: int = 1  # engine processes sharing the load
    cluster: Cluster | None = None  # where they run: None here, else a Ray cluster's nodes
    cookies: bool = True  # a scenario's users keep cookie jars (--no-cookies: they do not)

    def requests(self) -> tuple[RequestSpec, ...]:
        """What the engine sends: the scenario's mix, or the route asked as ``shape`` says.

        Raises SpecError when the route's path names a field the data rows lack.
        """
        if self.scenario:
            return self.scenario
        return (request_spec.for_path(self.shape or RequestSpec(name=""), self.path()),)

    @property
    def method(self) -> str:
        """The method of the one request loaded, for the run file's name (GET for a mix)."""
        asked = self.scenario or ((self.shape,) if self.shape is not None else ())
        return asked[0].method if len(asked) == 1 else "GET"

    def path(self) -> str:
        """The path loaded: a variant key names the demo's route (on any target), anything
        else is a path; on a given target, under its base path."""
        variant = self.variant()
        route = variant.path if variant is not None else self.route
        if self.target is not None:
            return self.target.path_for(route)
        return route if route.startswith("/") else "/" + route

    def variant(self) -> Variant | None:
        """The demo route this run loads: by key, or by path on a spawned demo server. A
        path on a given target is the target's own."""
        if self.target is not None and self.route.startswith("/"):
            return None
        return find_variant(self.route)
