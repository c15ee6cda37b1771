"""Engines as processes on this machine, behind the one interface (``loadtui.fleet.engines``)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait

from loadtui.engine.messages import (
    EngineConfig,
    EngineFailed,
    EngineFinished,
    EngineInfo,
    EngineReady,
)
from loadtui.fleet.engines import READY_TIMEOUT_S, START_MARGIN_S, FleetError, Tagged
from loadtui.workers import EngineProcess


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
