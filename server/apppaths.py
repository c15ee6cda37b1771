"""The app-side paths ``instrument(app)`` serves (``/heartbeat``, ``/metrics``), and the rule
that they never shadow a route the app has.

Prometheus exporters (prometheus-fastapi-instrumentator, starlette-exporter, prometheus_client's
ASGI app) serve ``/metrics`` themselves: finding one there, before ``instrument(app)`` or after
it (checked again at startup), is an error that names the option to use instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from starlette.routing import BaseRoute

PREFIX_OPTION = "path_prefix"


class InstrumentError(RuntimeError):
    """instrument(app) cannot be applied as asked."""


@dataclass(frozen=True)
class AppPaths:
    heartbeat: str
    metrics: str

    @classmethod
    def under(cls, prefix: str) -> AppPaths:
        if prefix and (not prefix.startswith("/") or prefix.endswith("/") or "?" in prefix):
            raise ValueError(
                f"{PREFIX_OPTION} must start with '/' and not end with one, e.g. '/loadtui' "
                f"(got {prefix!r})"
            )
        return cls(heartbeat=f"{prefix}/heartbeat", metrics=f"{prefix}/metrics")

    def all(self) -> tuple[str, str]:
        return (self.heartbeat, self.metrics)


def _describe(route: BaseRoute) -> str:
    name = getattr(route, "name", None)
    return f"{type(route).__name__} {name!r}" if name else type(route).__name__


def check_free(routes: Iterable[BaseRoute], paths: AppPaths) -> None:
    """InstrumentError if one of the app's routes sits at one of ``paths``."""
    for route in routes:
        path = getattr(route, "path", None)
        if path not in paths.all():
            continue
        raise InstrumentError(
            f"loadtui: the app already serves {path} ({_describe(route)}); instrument(app) will "
            f"not shadow it: pass instrument(app, {PREFIX_OPTION}='/loadtui') to serve loadtui's "
            f"routes at /loadtui/heartbeat and /loadtui/metrics instead"
        )
