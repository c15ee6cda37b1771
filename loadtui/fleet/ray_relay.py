"""One engine on a node of a Ray cluster: a Ray actor runs this relay, which runs the same engine
process as a local run on its node and hands the engine's messages to the driver when asked.

Nothing here imports Ray: ``loadtui.fleet.ray_engines`` makes it an actor. The engine process
checks the target rule on the node itself (loopback unless --allow-remote) before it sends anything.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from loadtui.engine import fd_limits
from loadtui.engine.messages import (
    EngineConfig,
    EngineFailed,
    EngineFinished,
    EngineMessage,
    EngineReady,
)
from loadtui.workers import EngineProcess

READY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class NodeInfo:
    """Where a relay runs."""

    host: str
    node: str  # the Ray node's id
    pid: int  # the relay's (the actor's) process
    boot: str  # the kernel's boot id: the same on one machine, whose clocks are then shared


@dataclass(frozen=True)
class Started:
    """The engine process a relay started, and what it said before it was ready (when it
    could not start: a refused target, say)."""

    pid: int | None
    said: list[EngineMessage]


def boot_id() -> str:
    with contextlib.suppress(OSError):
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return ""


class EngineRelay:
    def __init__(self) -> None:
        self._engine: EngineProcess | None = None

    def describe(self) -> NodeInfo:
        import ray  # only ever run as a Ray actor

        node = ray.get_runtime_context().get_node_id()
        return NodeInfo(os.uname().nodename, node, os.getpid(), boot_id())

    def clock(self) -> float:
        """This machine's wall clock, for the driver to measure the offset of."""
        return time.time()

    def start(self, config: EngineConfig) -> Started:
        """Start the engine process here and wait until it is ready for its start instant."""
        try:
            fd_limits.ensure(config.plan.users)
        except fd_limits.HeadroomError as exc:
            return Started(None, [EngineFailed(f"on {os.uname().nodename}: {exc}")])
        engine = self._engine = EngineProcess(config)
        engine.start()
        deadline = time.monotonic() + READY_TIMEOUT_S
        said: list[EngineMessage] = []
        while time.monotonic() < deadline:
            for message in engine.messages(0.5):
                if isinstance(message, EngineReady):
                    return Started(engine.pid, said)
                said.append(message)
                if isinstance(message, EngineFinished | EngineFailed):
                    return Started(engine.pid, said)
        return Started(engine.pid, [*said, EngineFailed(f"not ready after {READY_TIMEOUT_S:g} s")])

    def begin(self, epoch: float) -> None:
        """Start at ``epoch``, on this machine's wall clock."""
        if self._engine is not None:
            self._engine.begin(epoch)

    def poll(self, timeout: float) -> list[EngineMessage]:
        """What the engine has said since the last poll, waiting up to ``timeout``."""
        if self._engine is None:
            return []
        return self._engine.messages(timeout)

    def set_users(self, users: int) -> None:
        if self._engine is not None:
            self._engine.set_users(users)

    def stop(self) -> None:
        if self._engine is not None:
            self._engine.stop()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
