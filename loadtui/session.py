"""A session runs one segment: a target (a freshly spawned demo server, or one given), an engine
process and a probe thread, all feeding one run model. The headless commands and each TUI pane
drive sessions; none of them measures anything itself."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from loadtui.engine_messages import EngineFailed
from loadtui.model import RunModel, State
from loadtui.plan import LoadPlan
from loadtui.probe import Probe
from loadtui.server.variants import find_variant
from loadtui.spawn import SpawnedServer
from loadtui.target import Target, check_reachable, parse_target
from loadtui.workers import EngineConfig, EngineProcess

STOP_WAIT_S = 5.0
ENGINE_SILENCE_S = 10.0  # snapshots come every second; this long without one, the engine is stuck


@dataclass(frozen=True)
class SegmentSpec:
    route: str  # a variant key ("5") or a path
    plan: LoadPlan
    target: Target | None = None  # None: spawn a fresh demo server
    threads: int | None = None  # for a spawned server

    def path(self) -> str:
        """A variant key names the demo's route (on any target); anything else is a path."""
        variant = find_variant(self.route)
        if variant is not None and (self.target is None or not self.route.startswith("/")):
            return variant.path
        return self.route if self.route.startswith("/") else "/" + self.route


class Session:
    def __init__(self, spec: SegmentSpec) -> None:
        self.spec = spec
        self.server: SpawnedServer | None = None
        self.engine: EngineProcess | None = None
        self.probe: Probe | None = None
        self.model: RunModel | None = None
        self._closed = False
        self._last_message = time.monotonic()

    # ---- start ---------------------------------------------------------------------------
    def start(self) -> RunModel:
        """Spawn or check the target, then start the probe and the engine.

        Raises SpawnError or TargetError when there is nothing to load.
        """
        target = self._prepare_target()
        variant = find_variant(target.route)
        self.model = RunModel(
            target=target,
            plan=self.spec.plan,
            variant_key=variant.key if variant else None,
            variant_pattern=variant.pattern if variant else None,
        )
        model = self.model
        self.probe = Probe(
            target,
            on_look=model.add_server_look,
            on_stalls=model.add_stalls,
            on_signals=model.set_signals,
            on_failure=model.set_probe_failure,
        )
        self.probe.start()
        self.engine = EngineProcess(
            EngineConfig(target.host, target.port, target.route, self.spec.plan)
        )
        self.engine.start()
        self._last_message = time.monotonic()
        return model

    def _prepare_target(self) -> Target:
        path = self.spec.path()
        if self.spec.target is not None:
            check_reachable(self.spec.target)
            return replace(self.spec.target, route=path)
        self.server = SpawnedServer.start(threads=self.spec.threads)
        found = parse_target(self.server.url, path)
        return replace(
            found, spawned=True, metrics_url=self.server.metrics_url, pid=self.server.pid
        )

    # ---- running -------------------------------------------------------------------------
    @property
    def engine_done(self) -> bool:
        return self.model is not None and self.model.engine_done

    def pump(self, timeout: float = 0.25) -> bool:
        """Feed the engine's messages to the model; False once the engine is done."""
        if self.engine is None or self.model is None:
            return False
        if self.engine_done:
            time.sleep(timeout)
            return False
        messages = self.engine.messages(timeout)
        now = time.monotonic()
        if messages:
            self._last_message = now
        elif now - self._last_message > ENGINE_SILENCE_S:
            self.engine.kill()
            messages = [EngineFailed(f"the engine sent nothing for {ENGINE_SILENCE_S:g} s")]
        for message in messages:
            self.model.add_engine_message(message)
        self._record_sidecar()
        return not self.engine_done

    def _record_sidecar(self) -> None:
        """Once the probe has found the target's one worker and its sidecar, the run file
        names them (with several workers, each is in the server's per-worker figures)."""
        target = self.model.target if self.model is not None else None
        if self.probe is None or target is None or target.pid is not None:
            return
        workers = list(self.probe.workers.values())  # the probe's thread may add one meanwhile
        if len(workers) == 1 and workers[0].sidecar is not None and workers[0].pid is not None:
            found = replace(target, metrics_url=workers[0].sidecar, pid=workers[0].pid)
            self.model.target = found  # type: ignore[union-attr]

    def set_users(self, users: int) -> None:
        if self.engine is not None:
            self.engine.set_users(users)

    def stop(self) -> None:
        """Ask the engine to stop; it sends a final partial snapshot first."""
        if self.engine is not None and not self.engine_done:
            self.engine.stop()
            deadline = time.monotonic() + STOP_WAIT_S
            while not self.engine_done and time.monotonic() < deadline:
                self.pump(0.1)

    def drain(self, seconds: float, progress: Callable[[float], None] | None = None) -> None:
        """Keep probing the server's background backlog for ``seconds`` after the load."""
        if self.model is None:
            return
        self.model.drain_s = seconds
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            if progress is not None:
                progress(seconds - remaining)
            time.sleep(min(0.25, remaining))

    # ---- the end -------------------------------------------------------------------------
    def close(self, state: State | None = None) -> None:
        """Stop everything (idempotent); the model ends in ``state``."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self.stop()
        if self.probe is not None:
            self.probe.stop()
            self._record_sidecar()
        if self.server is not None:
            self.server.stop()
        if self.engine is not None:
            self.engine.close()
        if self.model is not None and not self.model.finished:
            if state is None:
                state = "failed" if self.model.failure else "finished"
            self.model.finish(state)
