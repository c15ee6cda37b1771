"""Several engines as one load, and the one interface a runner drives them through.

One engine is the engine process as it always was: started at once, nothing to agree. With
several, each is told its share (``EngineConfig.split``: its users; in open loop every N-th
request of the one schedule) and they start at one wall-clock instant agreed once all are ready,
so that their seconds line up and the open loop keeps one schedule. Their messages are gathered,
each tagged with the engine that sent it. ``loadtui.fleet.local.LocalEngines`` runs them as
processes on this machine; ``loadtui.fleet.ray_engines`` places them on a Ray cluster's nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from loadtui.engine.messages import EngineConfig, EngineInfo, EngineMessage

READY_TIMEOUT_S = 30.0  # engines still not ready by then: the run fails to start
START_MARGIN_S = 0.2  # from the agreement to the start instant: time for it to reach them all

Tagged = tuple[int, EngineMessage]  # (the engine's index, what it said)


class FleetError(Exception):
    """The engines could not be started; the message is one line."""


class Engines(Protocol):
    """What a runner drives: engines started together, their messages, their users."""

    infos: list[EngineInfo]

    def start(self) -> None:
        """Start every engine (together, when there are several); FleetError if they cannot."""

    def messages(self, timeout: float) -> list[Tagged]:
        """Whatever the engines have sent, waiting up to ``timeout`` for the first."""

    def set_users(self, index: int, users: int) -> None: ...

    def stop(self) -> None:
        """Ask every engine to stop; each sends a final partial snapshot first."""

    def kill(self, index: int) -> None:
        """End one engine at once (it went silent)."""

    def close(self) -> None:
        """Wait for every engine to end (after stop), ending those that do not."""


class Cluster(Protocol):
    """Machines to run engines on (``loadtui.fleet.ray_engines``: a Ray cluster's nodes)."""

    def engines(self, configs: Sequence[EngineConfig]) -> Engines:
        """Engines with these configurations, not started yet."""
