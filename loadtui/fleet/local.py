"""Several engines as one load: the load split between them, started together, and their
messages gathered, each tagged with the engine that sent it.

One engine is the engine process as it always was: started at once, nothing to agree. With
several, each is told its share (its users; in open loop every N-th request of the one schedule)
and they start at one wall-clock instant agreed once all are ready, so that their seconds line up
and the open loop keeps one schedule. ``LocalEngines`` runs them as processes on this machine;
``loadtui.fleet.ray_engines`` places them on a Ray cluster's nodes, behind the same interface.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import replace
from multiprocessing.connection import Connection, wait
from typing import Protocol

from loadtui.engine.messages import (
    EngineConfig,
    EngineFailed,
    EngineFinished,
    EngineInfo,
    EngineMessage,
    EngineReady,
    EngineRequest,
    Share,
)
from loadtui.engine.plan import split
from loadtui.workers import EngineProcess

READY_TIMEOUT_S = 30.0  # engines still not ready by then: the run fails to start
START_MARGIN_S = 0.2  # from the agreement to the start instant: time for it to reach them all

Tagged = tuple[int, EngineMessage]  # (the engine's index, what it said)


class FleetError(Exception):
    """The engines could not be started; the message is one line."""


def shares(config: EngineConfig, engines: int) -> list[EngineConfig]:
    """Each engine's configuration: its users and spawn rate, its share of the schedule (and of
    the data rows, in open loop). One engine gets ``config`` unchanged."""
    if engines == 1:
        return [config]
    plan = config.plan
    return [
        replace(
            config,
            requests=_rows_of_share(config, Share(k, engines)),
            plan=replace(plan, users=users, spawn_rate=plan.spawn_rate * users / plan.users),
            share=Share(k, engines),
            agreed_start=True,
        )
        for k, users in enumerate(split(plan.users, engines))
    ]


def _rows_of_share(config: EngineConfig, share: Share) -> tuple[EngineRequest, ...]:
    """Open loop, one request with its rows in round-robin order: request i of the one schedule
    takes row i mod rows, whichever engine sends it, so that the rows go out in the same order
    whatever the number of engines. An engine sends requests index, index + count, ...: it
    gets those rows, in that order (they repeat after rows / gcd(rows, count)), and takes them
    round-robin as one engine takes all of them. Closed loop, a mix and random order: every
    engine gets every row."""
    requests = config.requests
    if config.plan.mode != "open" or len(requests) != 1 or requests[0].random_order:
        return requests
    (request,) = requests
    rows = request.payloads
    cycle = len(rows) // math.gcd(len(rows), share.count)
    ours = tuple(rows[(share.index + turn * share.count) % len(rows)] for turn in range(cycle))
    return (replace(request, payloads=ours),)


def spread(users: int, live: Sequence[int]) -> dict[int, int]:
    """``users`` over the engines still running (by index), as evenly as possible."""
    return dict(zip(live, split(users, len(live)), strict=True)) if live else {}


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


def host_name() -> str:
    return os.uname().nodename


class LocalEngines:
    """Engine processes on this machine."""

    def __init__(self, configs: Sequence[EngineConfig]) -> None:
        self.configs = list(configs)
        self.processes = [EngineProcess(config) for config in self.configs]
        self.infos: list[EngineInfo] = []
        self._early: list[Tagged] = []  # what came in while waiting for them to be ready
        self._ended: set[int] = set()  # engines that said they finished or failed

    def start(self) -> None:
        for process in self.processes:
            process.start()
        if len(self.processes) > 1:
            self._start_together()
        self.infos = [
            EngineInfo(k, host_name(), config.plan.users, pid=process.pid)
            for k, (config, process) in enumerate(zip(self.configs, self.processes, strict=True))
        ]

    def _start_together(self) -> None:
        """Once every engine is ready, tell them all one start instant."""
        waiting = set(range(len(self.processes)))
        deadline = time.monotonic() + READY_TIMEOUT_S
        while waiting:
            if time.monotonic() > deadline:
                raise FleetError(
                    f"{len(waiting)} of {len(self.processes)} engines were not ready after "
                    f"{READY_TIMEOUT_S:g} s"
                )
            for index, message in self._receive(0.5):
                if isinstance(message, EngineReady):
                    waiting.discard(index)
                elif isinstance(message, EngineFinished | EngineFailed):
                    waiting.discard(index)  # it will never start: a lost engine
                    self._early.append((index, message))
        epoch = time.time() + START_MARGIN_S
        for process in self.processes:
            process.begin(epoch)

    def messages(self, timeout: float) -> list[Tagged]:
        if self._early:
            early, self._early = self._early, []
            return early
        return self._receive(timeout)

    def _receive(self, timeout: float) -> list[Tagged]:
        if len(self.processes) == 1:
            return [(0, message) for message in self.processes[0].messages(timeout)]
        by_connection = {
            process.connection: k
            for k, process in enumerate(self.processes)
            if k not in self._ended and process.connection is not None
        }
        if not by_connection:
            time.sleep(timeout)
            return []
        ready: list[Connection] = wait(list(by_connection), timeout)  # type: ignore[assignment]
        found = [
            (by_connection[connection], message)
            for connection in ready
            for message in self.processes[by_connection[connection]].messages(0)
        ]
        self._ended.update(k for k, m in found if isinstance(m, EngineFinished | EngineFailed))
        return found

    def set_users(self, index: int, users: int) -> None:
        self.processes[index].set_users(users)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()

    def kill(self, index: int) -> None:
        self.processes[index].kill()

    def close(self) -> None:
        for process in self.processes:
            process.close()
