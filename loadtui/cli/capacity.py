"""``loadtui capacity``: one server for the whole search (the given target, or a demo server
spawned once), each step a headless run written to the search's directory, the result printed,
written as a document (``--json``) and as an HTML page. Ctrl-C ends the search and keeps what
was measured."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from loadtui import __version__, exits
from loadtui.capacity import judge, page, text
from loadtui.capacity.capdoc import CapacityDocument, CapacityStep, SearchBounds
from loadtui.capacity.search import Bounds, Phase, SearchResult, StepOutcome, search
from loadtui.cli.headless import StopRequested, run_shown
from loadtui.fleet.engines import FleetError
from loadtui.run.atomic import write_text_atomic
from loadtui.run.exporter import LiveMetrics
from loadtui.run.rundoc import RunDocument, Threshold, Verdict
from loadtui.run.spec import RunSpec
from loadtui.safe_text import shown
from loadtui.targets.spawn import SpawnedServer
from loadtui.targets.target import TargetError

SETTLE_S = 1.0  # after a step that broke, the server's queue empties before the next
PAGE_NAME = "capacity.html"


@dataclass(frozen=True)
class CapacitySpec:
    run: RunSpec  # the route (or scenario), its request, users (connections), timeout, target
    slos: tuple[Threshold, ...]
    bounds: Bounds
    out_dir: Path
    json_path: Path | None = None
    live: LiveMetrics | None = None  # --prometheus-port: every step's figures served


@dataclass
class _Search:
    """The steps carried out, as the search asks for them."""

    spec: CapacitySpec
    run: RunSpec
    stop: StopRequested
    steps: list[CapacityStep] = field(default_factory=list)
    verdicts: dict[int, list[Verdict]] = field(default_factory=dict)  # by step number
    failure: str | None = None
    interrupted: bool = False

    def __call__(self, rate: float, seconds: float, phase: Phase) -> StepOutcome | None:
        if self.stop():
            self.interrupted = True
            return None
        number = len(self.steps) + 1
        plan = replace(self.run.plan, mode="open", rate=rate, stages=(), duration_s=seconds)
        path = self.spec.out_dir / f"step-{number:02d}-{phase}-{rate:.4g}rps.json"
        label = f"[step {number}] {phase} {rate:,.1f} req/s"
        try:
            result = run_shown(
                replace(self.run, plan=plan), path, self.stop, label=label, live=self.spec.live
            )
        except (TargetError, FleetError) as exc:  # the target went away between steps
            self.failure = shown(str(exc))
            return None
        if result.interrupted:
            self.interrupted = True
            return None
        doc = result.document
        if result.unreachable or result.write_error:
            self.failure = shown(result.write_error or doc.failure or "the target was unreachable")
            return None
        outcome = judge.outcome(doc, rate, self.spec.slos)
        self.steps.append(_step(number, phase, rate, seconds, doc, outcome, path.name))
        self.verdicts[number] = [v for v in doc.verdicts if v.code in outcome.verdicts]
        if outcome.broke is not None:
            time.sleep(SETTLE_S)
        return outcome


def _step(
    number: int,
    phase: Phase,
    rate: float,
    seconds: float,
    doc: RunDocument,
    outcome: StepOutcome,
    file_name: str,
) -> CapacityStep:
    latency = doc.summary.latency_ms
    return CapacityStep(
        number=number,
        phase=phase,
        rate_rps=rate,
        seconds=seconds,
        achieved_rps=round(judge.achieved(doc), 3),
        requests=doc.summary.requests,
        errors=doc.summary.errors,
        p50_ms=latency.p50,
        p90_ms=latency.p90,
        p99_ms=latency.p99,
        max_ms=latency.max,
        result=outcome.broke or "held",
        verdicts=list(outcome.verdicts),
        run_file=file_name,
    )


def _document(
    spec: CapacitySpec, done: _Search, result: SearchResult, started: datetime
) -> CapacityDocument:
    bounds = spec.bounds
    target = done.run.target
    return CapacityDocument(
        tool_version=__version__,
        started_at=started,
        finished_at=datetime.now(UTC),
        target=target.url if target is not None else "",
        route=done.run.path() if not done.run.scenario else done.run.route,
        slos=list(spec.slos),
        bounds=SearchBounds(
            min_rps=bounds.min_rate,
            max_rps=bounds.max_rate,
            ramp_step_s=bounds.ramp_s,
            step_s=bounds.step_s,
            resolution=bounds.resolution,
        ),
        held_rps=result.held_rps,
        broke_at_rps=result.broke_at_rps,
        limited_by=result.limited_by,
        verdicts=list(result.verdicts),
        explanation=done.verdicts.get(result.break_step or 0, []),
        steps=done.steps,
        interrupted=done.interrupted,
        failure=done.failure,
        run_dir=str(spec.out_dir),
    )


def _searched(spec: CapacitySpec, stop: StopRequested) -> tuple[_Search, SearchResult]:
    """The search against the target, or a demo server spawned for it alone."""
    server = None
    run = spec.run
    try:
        if run.target is None:
            server = SpawnedServer.start(threads=run.threads)
            run = replace(run, target=server.target("/"), threads=None)
        done = _Search(spec, run, stop)
        return done, search(done, spec.bounds)
    finally:
        if server is not None:
            server.stop()


def _written(doc: CapacityDocument, spec: CapacitySpec) -> list[str]:
    """Write the page and the --json document; the errors, one line each."""
    errors = []
    outputs = [(spec.out_dir / PAGE_NAME, page.render(doc))]
    if spec.json_path is not None:
        outputs.append((spec.json_path, doc.to_json()))
    for path, content in outputs:
        try:
            write_text_atomic(path, content)
        except OSError as exc:
            errors.append(f"could not write {path}: {exc.strerror or exc}")
    return errors


def capacity_command(spec: CapacitySpec) -> int:
    started = datetime.now(UTC)
    with StopRequested().installed() as stop:
        done, result = _searched(spec, stop)
    doc = _document(spec, done, result, started)
    print(text.render(doc))
    print(f"\nrun files and {PAGE_NAME} in {spec.out_dir}/")
    errors = _written(doc, spec)
    if done.failure:
        errors.insert(0, f"the search stopped at a step that could not be done: {done.failure}")
    for line in errors:
        print(f"loadtui capacity: {line}", file=sys.stderr)
    if done.interrupted:
        return exits.INTERRUPTED
    if errors:
        return exits.FAILED
    return exits.BREACHED if doc.held_rps is None else exits.OK
