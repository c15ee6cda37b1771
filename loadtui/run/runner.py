"""A runner carries out one run: a target (a freshly spawned demo server, or one given), its
engines (one engine process, several sharing the load, or Ray actors on a cluster's nodes) and a
probe thread, all feeding one run model. The headless commands and each TUI pane drive
runners; none of them measures anything itself."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from loadtui.engine import fd_limits, request_spec
from loadtui.engine.messages import EngineConfig, EngineFailed, EngineRequest
from loadtui.engine.plan import split
from loadtui.fleet.engines import Engines
from loadtui.fleet.local import LocalEngines
from loadtui.probe import Probe
from loadtui.probing.samples import Stall
from loadtui.run import document, gate, runfile
from loadtui.run.gate import NO_GATE, GateSpec
from loadtui.run.model import RunModel, State
from loadtui.run.rundoc import RunDocument
from loadtui.run.spec import RunSpec
from loadtui.targets.spawn import SpawnedServer
from loadtui.targets.target import Target, check_reachable

STOP_WAIT_S = 5.0
ENGINE_SILENCE_S = 10.0  # snapshots come every second; this long without one, the engine is stuck


def _engine_request(spec: request_spec.RequestSpec, host: str) -> EngineRequest:
    """A request as the engine sends it: its bytes, or (naming a user's variables) how to
    build them per user."""
    personal = request_spec.Personal(spec, host) if spec.variables else None
    return EngineRequest(
        name=spec.name,
        payloads=request_spec.payloads(spec, host) if personal is None else (),
        weight=spec.weight if spec.stage == "mix" else 0.0,
        expect=spec.expect,
        random_order=spec.order == "random",
        stage=spec.stage,
        extract=spec.extract,
        personal=personal,
    )


class Runner:
    def __init__(
        self,
        spec: RunSpec,
        on_stall: Callable[[], None] | None = None,
        on_model: Callable[[RunModel], None] | None = None,
    ) -> None:
        """``on_stall()``: called (from the probe's thread) as a stall of the server's loop
        begins or ends, for a screen that shows it at once. ``on_model(model)``: called with
        the run model as it is made, before anything feeds it (live metrics out)."""
        self.spec = spec
        self.on_stall = on_stall
        self.on_model = on_model
        self.server: SpawnedServer | None = None
        self.engines: Engines | None = None
        self.probe: Probe | None = None
        self.model: RunModel | None = None
        self._closed = False
        # an engine has a user (open loop: a connection) at least
        self.engine_count = max(1, min(spec.engines, spec.plan.users))
        self._last_message = [time.monotonic()] * self.engine_count  # by engine

    # ---- start ---------------------------------------------------------------------------
    def start(self) -> RunModel:
        """Spawn or check the target, then start the probe and the engines.

        Raises SpawnError or TargetError when there is nothing to load, FleetError when the
        engines cannot start.
        """
        specs = self.spec.requests()
        fd_limits.ensure(self.spec.plan.users, self.engine_count)
        target = self._prepare_target()
        variant = None if self.spec.scenario else self.spec.variant()
        self.model = RunModel(
            target=target,
            plan=self.spec.plan,
            variant_key=variant.key if variant else None,
            variant_pattern=variant.pattern if variant else None,
            mix=specs if self.spec.scenario else (),
            engines=self.engine_count,
        )
        model = self.model
        if self.on_model is not None:
            self.on_model(model)
        self.probe = Probe(
            target,
            on_look=model.add_server_look,
            on_stalls=self._stalls_heard,
            on_signals=model.set_signals,
            on_failure=model.set_probe_failure,
            on_threads=model.add_threads,
        )
        self.probe.start()
        requests = tuple(_engine_request(spec, target.host_header) for spec in specs)
        config = EngineConfig(
            target.host,
            target.port,
            requests,
            self.spec.plan,
            tls=target.tls_options(),
            allow_remote=target.allow_remote,
            cookies=bool(self.spec.scenario) and self.spec.cookies,
        )
        configs = config.split(self.engine_count)
        cluster = self.spec.cluster
        self.engines = cluster.engines(configs) if cluster is not None else LocalEngines(configs)
        self.engines.start()
        model.set_engines(self.engines.infos)
        self._last_message = [time.monotonic()] * self.engine_count
        return model

    def _stalls_heard(self, stalls: list[Stall]) -> None:
        model = self.model
        if model is not None and model.add_stalls(stalls) and self.on_stall is not None:
            self.on_stall()

    def _prepare_target(self) -> Target:
        path = self.spec.route if self.spec.scenario else self.spec.path()
        if self.spec.target is not None:
            check_reachable(self.spec.target)
            return replace(self.spec.target, route=path)
        self.server = SpawnedServer.start(threads=self.spec.threads)
        return self.server.target(path)

    # ---- running -------------------------------------------------------------------------
    @property
    def engine_done(self) -> bool:
        return self.model is not None and self.model.engine_done

    def pump(self, timeout: float = 0.25) -> bool:
        """Feed the engines' messages to the model; False once every engine is done."""
        if self.engines is None or self.model is None:
            return False
        if self.engine_done:
            time.sleep(timeout)
            return False
        tagged = self.engines.messages(timeout)
        now = time.monotonic()
        for engine, _ in tagged:
            self._last_message[engine] = now
        for engine in self.model.live_engines():
            if now - self._last_message[engine] > ENGINE_SILENCE_S:
                self.engines.kill(engine)
                silent = EngineFailed(f"the engine sent nothing for {ENGINE_SILENCE_S:g} s")
                tagged.append((engine, silent))
        for engine, message in tagged:
            self.model.add_engine_message(message, engine)
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
        """Change the users (open loop: the connections), shared among the running engines
        (each keeps one at least)."""
        if self.engines is not None and self.model is not None:
            live = self.model.live_engines()
            shares = split(max(users, len(live)), len(live)) if live else []
            for engine, share in zip(live, shares, strict=True):
                self.engines.set_users(engine, share)

    def stop(self) -> None:
        """Ask the engines to stop; each sends a final partial snapshot first."""
        if self.engines is not None and not self.engine_done:
            self.engines.stop()
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
        if self.engines is not None:
            self.engines.close()
        if self.model is not None and not self.model.finished:
            if state is None:
                state = "failed" if self.model.failure else "finished"
            self.model.finish(state)


# ---- one run, start to end ---------------------------------------------------------------------
Progress = Callable[
    [RunModel, str], None
]  # (the model so far, what is happening: "" or "draining")


@dataclass
class RunResult:
    document: RunDocument
    path: Path | None  # None when no file was asked for, or it could not be written
    interrupted: bool
    unreachable: bool
    write_error: str | None = None


def run_to_end(
    spec: RunSpec,
    *,
    json_path: Path | None,
    drain_s: float | None = None,
    stop: Callable[[], bool] = lambda: False,
    progress: Progress = lambda _model, _phase: None,
    gate_spec: GateSpec = NO_GATE,
    on_model: Callable[[RunModel], None] | None = None,
) -> RunResult:
    """Carry out one run to its end, or until ``stop()`` is true (it is then interrupted), then
    judge it and write its file. ``progress`` is called about four times a second;
    ``on_model`` with the run model as it is made (``Runner``).

    SpawnError / TargetError propagate: nothing was measured, nothing is written.
    """
    runner = Runner(spec, on_model=on_model)
    state: State | None = None  # None: the runner decides (finished, or failed)
    try:
        runner.start()
        model = runner.model
        assert model is not None
        while runner.pump(0.25):
            progress(model, "")
            if stop():
                runner.stop()
        if drain_s and not stop():
            runner.drain(drain_s, lambda _t: progress(model, "draining"))
        if stop():
            state = "interrupted"
    except KeyboardInterrupt:
        state = "interrupted"
    finally:
        runner.close(state)
    return _written(runner, state == "interrupted", json_path, gate_spec)


def _written(
    runner: Runner, interrupted: bool, json_path: Path | None, gate_spec: GateSpec
) -> RunResult:
    model = runner.model
    assert model is not None
    doc = gate.apply(document.build(model), gate_spec)
    unreachable = model.failure is not None or any(
        v.code == "server_unreachable" for v in doc.verdicts
    )
    result = RunResult(doc, json_path, interrupted, unreachable)
    if json_path is not None:
        try:
            runfile.write(json_path, doc)
        except OSError as exc:  # the disk filled up during the run: the summary still prints
            result.path = None
            result.write_error = f"could not write {json_path}: {exc.strerror or exc}"
    return result
