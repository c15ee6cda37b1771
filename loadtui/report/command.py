"""`loadtui report`: compare saved runs in a table on stdout (plain or Markdown), and write the
HTML report, the CSV and the HdrHistogram logs.

A bad run file raises RunFileError and an output that cannot be written (or that is one of the
inputs) UsageError, both before anything is written (exit 2); a write that fails part way (a
disk that fills) is one line and exit 1, leaving no half file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from loadtui import exits
from loadtui.exits import UsageError
from loadtui.report import tables
from loadtui.report.files import write_csv, write_hdr_logs
from loadtui.report.html import write_html
from loadtui.report.runs import Run, find_run_files, load_runs, merge_runs
from loadtui.run.runfile import check_writable

Writer = Callable[[Path, Sequence[Run]], object]


@dataclass(frozen=True)
class Output:
    path: Path
    what: str
    write: Writer
    probe: Path  # writing a file here shows that the output can be written


def _outputs(args: argparse.Namespace) -> list[Output]:
    found = []
    if args.html:
        found.append(Output(args.html, "the HTML report", write_html, args.html))
    if args.csv:
        found.append(Output(args.csv, "the CSV", write_csv, args.csv))
    if args.hdr_log:
        logs = Output(args.hdr_log, "HdrHistogram logs in", write_hdr_logs, args.hdr_log / "x")
        found.append(logs)
    return found


def _check_outputs(outputs: Sequence[Output], inputs: Sequence[Path]) -> None:
    """UsageError if an output would overwrite an input or cannot be written."""
    sources = {path.resolve() for path in inputs}
    for output in outputs:
        if output.path.resolve() in sources:
            raise UsageError(f"{output.what} {output.path} is one of the run files read")
        try:
            check_writable(output.probe)
        except OSError as exc:
            raise UsageError(
                f"cannot write {output.what} {output.path}: {exc.strerror or exc}"
            ) from None


def _runs(paths: Sequence[Path], merge: bool) -> list[Run]:
    runs = load_runs(paths)
    if not merge:
        return runs
    runs = merge_runs(runs)
    for run in runs:
        if len(run.sources) > 1:
            print(f"merged {run.label}: {run.source}", file=sys.stderr)
    return runs


def report_command(args: argparse.Namespace) -> int:
    paths = find_run_files(args.paths)
    outputs = _outputs(args)
    _check_outputs(outputs, paths)
    runs = _runs(paths, args.merge)
    print(tables.runs_block([run.doc for run in runs], args.markdown))
    for output in outputs:
        try:
            output.write(output.path, runs)
        except OSError as exc:
            print(
                f"loadtui report: could not write {output.what} {output.path}: "
                f"{exc.strerror or exc}",
                file=sys.stderr,
            )
            return exits.FAILED
        print(f"wrote {output.what} {output.path}", file=sys.stderr)
    return exits.OK
