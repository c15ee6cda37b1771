"""Headless runs: `loadtui run` (one run) and `loadtui matrix` (the seed's runner).

Progress goes to stderr, results to stdout, run files are written atomically. Ctrl-C (or
SIGTERM) stops the load, keeps what was measured, marks it interrupted and still writes it.
"""

from __future__ import annotations

import contextlib
import re
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import TextIO

from loadtui import exits
from loadtui.engine.plan import LoadPlan
from loadtui.engine.request_spec import RequestSpec
from loadtui.fleet.local import Cluster
from loadtui.report import step_summary as github_summary
from loadtui.report import tables
from loadtui.run import document, runfile, verdicts
from loadtui.run import gate as gates
from loadtui.run.gate import NO_GATE, GateSpec
from loadtui.run.model import State
from loadtui.run.rundoc import RunDocument
from loadtui.run.runner import Runner, RunSpec
from loadtui.safe_text import shown
from loadtui.targets.target import Target

SEED_SPAWN_RATES = {10: 5.0, 40: 10.0, 100: 20.0}


class StopRequested:
    """Turns SIGINT/SIGTERM into a flag the run loop reads; a second signal forces exit."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __bool__(self) -> bool:
        return self.signal is not None

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signum

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopRequested]:
        previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


class Progress:
    """A one-line progress bar on a terminal; a line every few seconds otherwise."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self.tty = stream.isatty()
        self._last = 0.0

    def show(self, runner: Runner, phase: str = "") -> None:
        now = time.monotonic()
        if now - self._last < (0.5 if self.tty else 5.0):
            return
        self._last = now
        self.stream.write(("\r" if self.tty else "") + self._line(runner, phase))
        if not self.tty:
            self.stream.write("\n")
        self.stream.flush()

    def _line(self, runner: Runner, phase: str) -> str:
        model = runner.model
        assert model is not None
        elapsed = model.elapsed_s()
        duration = model.plan.duration_s
        latest = model.latest()
        rps = f"{latest.rps:6.1f} req/s" if latest else "   -- req/s"
        p99 = f"p99 {tables.ms(latest.p99_ms) if latest else '-':>6} ms"
        errors = f"errors {model.summary().errors:,}"
        if duration:
            filled = int(20 * min(1.0, elapsed / duration))
            bar = "#" * filled + "-" * (20 - filled)
            clock = f"{elapsed:4.0f}/{duration:g} s ({max(0.0, duration - elapsed):.0f} s left)"
        else:
            bar, clock = "", f"{elapsed:4.0f} s"
        text = f"{self.label} [{bar}] {clock} {rps} {p99} {errors} {phase}"
        return text[:159].ljust(80) if self.tty else text.strip()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


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
    drain_s: float | None,
    stop: StopRequested,
    label: str = "",
    gate: GateSpec = NO_GATE,
) -> RunResult:
    """Carry out one run to its end (or until it is stopped) and write its file.

    SpawnError / TargetError propagate: nothing was measured, nothing is written.
    """
    runner = Runner(spec)
    progress = Progress(sys.stderr, label)
    state: State | None = None  # None: the runner decides (finished, or failed)
    try:
        runner.start()
        while runner.pump(0.25):
            progress.show(runner)
            if stop:
                runner.stop()
        if drain_s and not stop:
            runner.drain(drain_s, lambda _t: progress.show(runner, "draining"))
        if stop:
            state = "interrupted"
    except KeyboardInterrupt:
        state = "interrupted"
    finally:
        progress.done()
        runner.close(state)
    model = runner.model
    assert model is not None
    found = verdicts.compute(model)
    doc = gates.apply(document.build(model, found), gate)
    unreachable = any(v.code == "server_unreachable" for v in found) or model.failure is not None
    result = RunResult(doc, json_path, state == "interrupted", unreachable)
    if json_path is not None:
        try:
            runfile.write(json_path, doc)
        except OSError as exc:  # disk filled up during the run: the summary still prints
            result.path = None
            result.write_error = f"could not write {json_path}: {exc.strerror or exc}"
    return result


def run_command(
    spec: RunSpec, json_path: Path | None, drain_s: float | None, gate: GateSpec = NO_GATE
) -> int:
    with StopRequested().installed() as stop:
        result = run_to_end(spec, json_path=json_path, drain_s=drain_s, stop=stop, gate=gate)
    print(tables.run_summary(result.document, str(result.path) if result.path else None))
    if result.document.failure:
        print(f"loadtui run: {shown(result.document.failure)}", file=sys.stderr)
    if result.write_error:
        print(f"loadtui run: {result.write_error}", file=sys.stderr)
    breached = gates.breaches(result.document)
    for line in breached:
        print(f"loadtui run: {line}", file=sys.stderr)
    step_summary("run", [result.document], breached)
    if result.interrupted:
        return exits.INTERRUPTED
    if result.unreachable or result.write_error:
        return exits.FAILED
    return exits.BREACHED if breached else exits.OK


def step_summary(command: str, docs: list[RunDocument], breached: list[str]) -> None:
    """The Markdown summary and the breaches, for GitHub Actions (when it asks for them)."""
    parts = [f"### loadtui {command}", "", tables.comparison_table(docs, markdown=True)]
    lessons = tables.lessons(docs, markdown=True)
    if lessons:
        parts += ["", "**What the runs showed**", "", *lessons]
    gate = tables.gate_table(docs, markdown=True)
    if gate:
        parts += ["", "**Gate**", "", gate]
    if breached:
        parts += ["", "**Breached** (exit code 3)", ""]
        parts += [f"- {line}".replace("<", "&lt;") for line in breached]
    error = github_summary.append("\n".join(parts))
    if error:
        print(f"loadtui {command}: {error}", file=sys.stderr)


def matrix_command(
    routes: list[str],
    users: list[int],
    base_plan: LoadPlan,
    out_dir: Path,
    threads: int | None,
    target: Target | None = None,
    shape: RequestSpec | None = None,
    gate: GateSpec = NO_GATE,
    *,
    engines: int = 1,
    cluster: Cluster | None = None,
) -> int:
    """Every route x every user count, files in ``out_dir``: a fresh demo server for each, or
    the given target's paths; each run by ``engines`` engines (on ``cluster``'s nodes)."""
    docs: list[RunDocument] = []
    total = len(routes) * len(users)
    interrupted = write_error = False
    with StopRequested().installed() as stop:
        for number, (route, count) in enumerate(((r, u) for r in routes for u in users), start=1):
            plan = replace(
                base_plan, users=count, spawn_rate=SEED_SPAWN_RATES.get(count, base_plan.spawn_rate)
            )
            spec = RunSpec(
                route,
                plan,
                target=target,
                threads=threads,
                shape=shape,
                engines=engines,
                cluster=cluster,
            )
            label = f"[{number}/{total}] {route} x {count}u"
            name = re.sub(r"[^\w.-]+", "_", route.strip("/")) or "root"
            result = run_to_end(
                spec,
                json_path=out_dir / f"route-{name}-{count}u.json",
                drain_s=None,
                stop=stop,
                label=label,
                gate=gate,
            )
            docs.append(result.document)
            if result.write_error:
                print(f"loadtui matrix: {result.write_error}; stopping", file=sys.stderr)
                write_error = True
            if result.interrupted or result.write_error:
                interrupted = result.interrupted
                break
    print(tables.comparison_table(docs))
    lesson_lines = tables.lessons(docs)
    if lesson_lines:
        print("\nwhat the runs showed")
        print("\n".join(lesson_lines))
    gate_table = tables.gate_table(docs)
    if gate_table:
        print(f"\ngate\n{gate_table}")
    print(f"\nrun files in {out_dir}/")
    breached = [
        f"{tables.route_label(doc)}@{tables.load_label(doc)}: {line}"
        for doc in docs
        for line in gates.breaches(doc)
    ]
    for line in breached:
        print(f"loadtui matrix: {line}", file=sys.stderr)
    step_summary("matrix", docs, breached)
    if interrupted:
        return exits.INTERRUPTED
    if write_error:
        return exits.FAILED
    return exits.BREACHED if breached else exits.OK
