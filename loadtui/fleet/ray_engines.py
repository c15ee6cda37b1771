"""Engines on a Ray cluster (``--ray auto|local``, the optional extra ``loadtui[ray]``).

Each engine is a Ray actor (``loadtui.fleet.ray_relay.EngineRelay``, one CPU, spread over the
nodes) that runs the engine process on its node and hands its messages over when the driver
polls it. The driver measures each node's clock offset (the round trip of a clock read, the
fastest of a few), starts every engine at one wall-clock instant given in each node's own clock,
and puts the engines' monotonic times on its own clock, so that the model, the probe, the TUI
and the run file work exactly as with local engines. An actor (or node) that dies is an engine lost.

Only this module imports Ray, and only when ``--ray`` is given.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from loadtui.engine.loopback import is_loopback
from loadtui.engine.messages import (
    EngineConfig,
    EngineFailed,
    EngineFinished,
    EngineInfo,
    EngineMessage,
    EngineStarted,
    IntervalSnapshot,
)
from loadtui.fleet.engines import READY_TIMEOUT_S, START_MARGIN_S, FleetError, Tagged
from loadtui.fleet.ray_relay import EngineRelay, NodeInfo, Started, boot_id

INSTALL = "pip install 'loadtui[ray]'"
POLL_S = 0.5  # how long an actor's poll waits for its engine's next message
CLOCK_READS = 5  # the fastest of these round trips gives a node's clock offset
ADDRESS_TIMEOUT_S = 3.0
SHUTDOWN_TIMEOUT_S = 10.0
# A cluster started here is this machine's alone: Ray then binds its node to loopback, not to
# the machine's outward address (its own switch, named for the platforms where that is usual).
LOOPBACK_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


class RayUnavailable(Exception):
    """Ray is not installed, or no cluster could be reached; the message is one line."""


def check_installed() -> None:
    """RayUnavailable naming the install command when the extra is not installed (without
    importing it: that takes a while)."""
    try:
        found = importlib.util.find_spec("ray")
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise RayUnavailable(f"--ray needs Ray, an optional extra: {INSTALL}")


def _reachable(where: str) -> str:
    """The host of a HOST:PORT address, after one TCP connection to it (Ray itself retries for
    minutes)."""
    text = where.split("://", 1)[-1]
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise RayUnavailable(f"RAY_ADDRESS {where!r}: give HOST:PORT")
    try:
        with socket.create_connection((host, int(port)), ADDRESS_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RayUnavailable(f"no Ray cluster answers at {where}: {reason}") from None
    return host


def _keep_on_loopback() -> None:
    """Ray swaps a loopback address for the machine's outward one; not for a cluster that
    listens on loopback only (its processes read the switch, this one has read it already)."""
    os.environ.update(LOOPBACK_ONLY)
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False


def _address() -> str:
    """The cluster ``--ray auto`` joins: RAY_ADDRESS, else the one running on this machine."""
    from ray._private.services import get_ray_address_from_environment

    try:
        return get_ray_address_from_environment("auto", None)
    except ConnectionError:
        raise RayUnavailable(
            "no Ray cluster is running here: set RAY_ADDRESS=HOST:PORT, or use --ray local"
        ) from None


@dataclass
class RayCluster:
    """A connection to a Ray cluster; ``local``: one this process started (and stops)."""

    local: bool
    cpus: int

    def engines(self, configs: Sequence[EngineConfig]) -> RayEngines:
        return RayEngines(configs)

    def close(self) -> None:
        import ray

        with contextlib.suppress(Exception):
            ray.shutdown()


def connect(mode: str, cpus: int) -> RayCluster:
    """Join the running cluster (``auto``: RAY_ADDRESS, else this machine's) or start one on
    this machine with ``cpus`` CPUs, on loopback (``local``). RayUnavailable when there is none
    to join."""
    check_installed()
    if mode == "local":
        os.environ.update(LOOPBACK_ONLY)  # read when Ray is imported, and by its processes
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable(f"--ray: Ray does not import ({exc}); {INSTALL}") from None
    options: dict[str, Any] = {
        "logging_level": logging.ERROR,
        "log_to_driver": False,
        "include_dashboard": False,
    }
    where = None
    try:
        if mode == "local":
            ray.init(num_cpus=cpus, **options)
        else:
            where = _address()
            if is_loopback(_reachable(where)):
                _keep_on_loopback()
            ray.init(address=where, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        raise RayUnavailable(
            f"could not join the Ray cluster at {where}: {lines[0]} (with token authentication, "
            "Ray's default, set RAY_AUTH_MODE=token and give the cluster's token)"
            if where
            else f"could not start Ray here: {lines[0]}"
        ) from None
    return RayCluster(local=mode == "local", cpus=int(ray.cluster_resources().get("CPU", 0)))


@dataclass
class _Placed:
    """One engine's actor and what the driver knows of its node."""

    actor: Any
    node: NodeInfo
    offset_s: float  # its wall clock minus the driver's
    shift_s: float | None = None  # its monotonic clock to the driver's, from its start


class RayEngines:
    """Engines as Ray actors on the cluster's nodes, one CPU each, spread over the nodes."""

    def __init__(self, configs: Sequence[EngineConfig]) -> None:
        self.configs = list(configs)
        self.infos: list[EngineInfo] = []
        self._placed: list[_Placed] = []
        self._polls: dict[Any, int] = {}  # a pending poll -> its engine
        self._early: list[Tagged] = []
        self._here = boot_id()

    # ---- start -----------------------------------------------------------------------------
    def start(self) -> None:
        import ray

        relay = ray.remote(EngineRelay).options(
            num_cpus=1, max_concurrency=4, scheduling_strategy="SPREAD"
        )
        actors = [relay.remote() for _ in self.configs]
        nodes = _gathered([a.describe.remote() for a in actors], "be placed (one CPU each)")
        self._placed = [
            _Placed(actor, node, 0.0 if node.boot == self._here else _offset(actor))
            for actor, node in zip(actors, nodes, strict=True)
        ]
        started: list[Started] = _gathered(
            [a.start.remote(c) for a, c in zip(actors, self.configs, strict=True)], "start"
        )
        failed = set()
        for k, engine in enumerate(started):
            self._early += [(k, m) for m in engine.said]
            if any(isinstance(m, EngineFinished | EngineFailed) for m in engine.said):
                failed.add(k)
        epoch = time.time() + START_MARGIN_S
        for k, placed in enumerate(self._placed):
            if k not in failed:
                placed.actor.begin.remote(epoch + placed.offset_s)
                self._poll(k)
        self.infos = [
            EngineInfo(
                k,
                p.node.host,
                config.plan.users,
                pid=engine.pid,
                node=p.node.node,
                clock_offset_s=p.offset_s,
            )
            for k, (p, config, engine) in enumerate(
                zip(self._placed, self.configs, started, strict=True)
            )
        ]

    def _poll(self, engine: int) -> None:
        self._polls[self._placed[engine].actor.poll.remote(POLL_S)] = engine

    # ---- running ---------------------------------------------------------------------------
    def messages(self, timeout: float) -> list[Tagged]:
        import ray

        if self._early:
            early, self._early = self._early, []
            return [(k, self._on_driver_clock(k, m)) for k, m in early]
        if not self._polls:
            time.sleep(timeout)
            return []
        ready, _ = ray.wait(list(self._polls), num_returns=1, timeout=timeout)
        if ready:  # and whichever others are in by now
            ready, _ = ray.wait(list(self._polls), num_returns=len(self._polls), timeout=0)
        found: list[Tagged] = []
        for ref in ready:
            engine = self._polls.pop(ref)
            try:
                messages = ray.get(ref)
            except ray.exceptions.RayError as exc:
                found.append((engine, EngineFailed(self._died(engine, exc))))
                continue
            found += [(engine, self._on_driver_clock(engine, m)) for m in messages]
            if not any(isinstance(m, EngineFinished | EngineFailed) for m in messages):
                self._poll(engine)
        return found

    def _died(self, engine: int, exc: Exception) -> str:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"its Ray actor on {self._placed[engine].node.host} died ({first})"

    def _on_driver_clock(self, engine: int, message: EngineMessage) -> EngineMessage:
        """The engine's times on this machine's clocks (nothing to do on this machine)."""
        placed = self._placed[engine]
        if placed.node.boot == self._here:
            return message
        if isinstance(message, EngineStarted):
            epoch = message.started_epoch - placed.offset_s  # the driver's wall clock
            placed.shift_s = epoch - (time.time() - time.monotonic()) - message.started_mono
            return EngineStarted(message.started_mono + placed.shift_s, epoch)
        if isinstance(message, IntervalSnapshot) and placed.shift_s is not None:
            shift = placed.shift_s
            last = message.last_response_mono
            return replace(
                message,
                started_mono=message.started_mono + shift,
                ended_mono=message.ended_mono + shift,
                last_response_mono=None if last is None else last + shift,
            )
        return message

    def set_users(self, index: int, users: int) -> None:
        self._placed[index].actor.set_users.remote(users)

    def stop(self) -> None:
        for placed in self._placed:
            placed.actor.stop.remote()

    def kill(self, index: int) -> None:
        import ray

        for ref, engine in list(self._polls.items()):
            if engine == index:
                del self._polls[ref]
        with contextlib.suppress(Exception):
            ray.kill(self._placed[index].actor)

    def close(self) -> None:
        import ray

        closing = [p.actor.close.remote() for p in self._placed]
        with contextlib.suppress(Exception):
            ray.wait(closing, num_returns=len(closing), timeout=SHUTDOWN_TIMEOUT_S)
        for placed in self._placed:
            with contextlib.suppress(Exception):
                ray.kill(placed.actor)


def _gathered(refs: list[Any], what: str) -> list[Any]:
    """Every result, or FleetError saying the engines did not ``what`` on the cluster."""
    import ray

    try:
        return ray.get(refs, timeout=READY_TIMEOUT_S)
    except ray.exceptions.RayError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise FleetError(
            f"{len(refs)} engines did not {what} on the Ray cluster within "
            f"{READY_TIMEOUT_S:g} s: {first}"
        ) from None


def _offset(actor: Any) -> float:
    """The actor's wall clock minus this one's, from the fastest of a few round trips."""
    import ray

    best: tuple[float, float] | None = None
    for _ in range(CLOCK_READS):
        sent = time.time()
        theirs = ray.get(actor.clock.remote(), timeout=READY_TIMEOUT_S)
        back = time.time()
        if best is None or back - sent < best[0]:
            best = (back - sent, theirs - (sent + back) / 2)
    assert best is not None
    return best[1]
