"""Headless runs: `loadtui run` (one run) and `loadtui matrix` (the seed's runner).

Progress goes to stderr, results to stdout, run files are written atomically. Ctrl-C (or
SIGTERM) stops the load, keeps what was measured, marks it interrupted and still writes it.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, TextIO

from loadtui import exits
from loadtui.engine.plan import LoadPlan
from loadtui.engine.request_spec import RequestSpec
from loadtui.fleet.engines import Cluster
from loadtui.formats import ms
from loadtui.report import step_summary, tables
from loadtui.run import runfile
from loadtui.run.gate import NO_GATE, GateSpec, breaches
from loadtui.run.model import RunModel
from loadtui.run.outcome import no_success
from loadtui.run.rundoc import RunDocument
from loadtui.run.runner import RunResult, run_to_end
from loadtui.run.spec import RunSpec
from loadtui.safe_text import shown
from loadtui.targets.target import Target

if TYPE_CHECKING:
    from loadtui.run.exporter import LiveMetrics

SEED_SPAWN_RATES = {10: 5.0, 40: 10.0, 100: 20.0}


class StopRequested:
    """Turns SIGINT/SIGTERM into a flag the run loop reads; a second signal forces exit."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __call__(self) -> bool:
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


class ProgressLine:
    """A one-line progress bar on a terminal; a line every few seconds otherwise."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self.tty = stream.isatty()
        self._last = 0.0

    def show(self, model: RunModel, phase: str = "") -> None:
        now = time.monotonic()
        if now - self._last < (0.5 if self.tty else 5.0):
            return
        self._last = now
        self.stream.write(("\r" if self.tty else "") + self._line(model, phase))
        if not self.tty:
            self.stream.write("\n")
        self.stream.flush()

    def _line(self, model: RunModel, phase: str) -> str:
        elapsed = model.elapsed_s()
        duration = model.plan.duration_s
        latest = model.latest()
        rps = f"{latest.rps:6.1f} req/s" if latest else "   -- req/s"
        if latest is not None and latest.intended_rps is not None:  # open loop: of what was due
            rps += f" (intended {latest.intended_rps:.0f})"
        p99 = f"p99 {ms(latest.p99_ms) if latest else '-':>6} ms"
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


def run_shown(
    spec: RunSpec,
    json_path: Path | None,
    stop: StopRequested,
    *,
    drain_s: float | None = None,
    label: str = "",
    gate: GateSpec = NO_GATE,
    live: LiveMetrics | None = None,
) -> RunResult:
    """One run with its progress on stderr (and its figures on ``live``'s endpoint)."""
    progress = ProgressLine(sys.stderr, label)
    try:
        return run_to_end(
            spec, json_path=json_path, drain_s=drain_s, stop=stop, progress=progress.show,
            gate_spec=gate, on_model=live.watch if live is not None else None,
        )  # fmt: skip
    finally:
        progress.done()


ACCEPT_HINT = "a failed run (--allow-no-success accepts it)"


def run_command(
    spec: RunSpec,
    json_path: Path | None,
    drain_s: float | None,
    gate: GateSpec = NO_GATE,
    allow_no_success: bool = False,
    live: LiveMetrics | None = None,
) -> int:
    with StopRequested().installed() as stop:
        result = run_shown(spec, json_path, stop, drain_s=drain_s, gate=gate, live=live)
    print(tables.run_summary(result.document, str(result.path) if result.path else None))
    if result.document.failure:
        print(f"loadtui run: {shown(result.document.failure)}", file=sys.stderr)
    if result.write_error:
        print(f"loadtui run: {result.write_error}", file=sys.stderr)
    why = None if allow_no_success else no_success(result.document.summary)
    if why and not result.interrupted:
        print(f"loadtui run: {why}: {ACCEPT_HINT}", file=sys.stderr)
    breached = breaches(result.document)
    for line in breached:
        print(f"loadtui run: {line}", file=sys.stderr)
    github_summary("run", [result.document], breached)
    if result.interrupted:
        return exits.INTERRUPTED
    if result.unreachable or result.write_error or why:
        return exits.FAILED
    return exits.BREACHED if breached else exits.OK


def github_summary(command: str, docs: Sequence[RunDocument], breached: Sequence[str]) -> None:
    error = step_summary.write(command, docs, breached)
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
    allow_no_success: bool = False,
    live: LiveMetrics | None = None,
) -> int:
    """Every route x every user count, files in ``out_dir``: a fresh demo server for each, or
    the given target's paths; each run by ``engines`` engines (on ``cluster``'s nodes), its
    figures on ``live``'s endpoint."""
    docs: list[RunDocument] = []
    total = len(routes) * len(users)
    interrupted = write_error = False
    with StopRequested().installed() as stop:
        for number, (route, count) in enumerate(((r, u) for r in routes for u in users), start=1):
            plan = replace(
                base_plan, users=count, spawn_rate=SEED_SPAWN_RATES.get(count, base_plan.spawn_rate)
            )
            spec = RunSpec(
                route, plan, target=target, threads=threads, shape=shape, engines=engines,
                cluster=cluster,
            )  # fmt: skip
            path = out_dir / runfile.file_name(route, count, spec.method)
            label = f"[{number}/{total}] {route} x {count}u"
            result = run_shown(spec, path, stop, label=label, gate=gate, live=live)
            docs.append(result.document)
            if result.write_error:
                print(f"loadtui matrix: {result.write_error}; stopping", file=sys.stderr)
                write_error = True
            if result.interrupted or result.write_error:
                interrupted = result.interrupted
                break
    print(tables.runs_block(docs))
    print(f"\nrun files in {out_dir}/")
    breached = [
        f"{tables.route_label(doc)}@{tables.load_label(doc)}: {line}"
        for doc in docs
        for line in breaches(doc)
    ]
    for line in breached:
        print(f"loadtui matrix: {line}", file=sys.stderr)
    github_summary("matrix", docs, breached)
    if interrupted:
        return exits.INTERRUPTED
    unsuccessful = [
        f"{tables.route_label(doc)}@{tables.load_label(doc)}: {why}"
        for doc in docs
        if not allow_no_success and (why := no_success(doc.summary))
    ]
    for line in unsuccessful:
        print(f"loadtui matrix: {line}: {ACCEPT_HINT}", file=sys.stderr)
    if write_error or unsuccessful:
        return exits.FAILED
    return exits.BREACHED if breached else exits.OK
