"""`loadtui report`: compare saved runs in a table on stdout (plain or Markdown), and write the
HTML report, the CSV and the HdrHistogram logs. A bad run file raises RunFileError (exit 2)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from loadtui.report import tables
from loadtui.report.files import write_csv, write_hdr_logs
from loadtui.report.html import write_html
from loadtui.report.runs import Run, find_run_files, load_runs, merge_runs
from loadtui.runfile import check_writable

EXIT_OK, EXIT_USAGE = 0, 2
Writer = Callable[[Path, Sequence[Run]], object]


def print_tables(runs: Sequence[Run], markdown: bool) -> None:
    docs = [run.doc for run in runs]
    print(tables.comparison_table(docs, markdown=markdown))
    lines = tables.lessons(docs, markdown=markdown)
    if lines:
        print("\n**What the runs showed**\n" if markdown else "\nwhat the runs showed")
        print("\n".join(lines))


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


def _unwritable(outputs: Sequence[Output]) -> str | None:
    for output in outputs:
        try:
            check_writable(output.probe)
        except OSError as exc:
            return f"cannot write {output.what} {output.path}: {exc.strerror or exc}"
    return None


def _runs(args: argparse.Namespace) -> list[Run]:
    runs = load_runs(find_run_files(args.paths))
    if not args.merge:
        return runs
    runs = merge_runs(runs)
    for run in runs:
        if len(run.sources) > 1:
            print(f"merged {run.label}: {run.source}", file=sys.stderr)
    return runs


def report_command(args: argparse.Namespace) -> int:
    runs = _runs(args)
    outputs = _outputs(args)
    problem = _unwritable(outputs)
    if problem:
        print(f"loadtui report: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    print_tables(runs, args.markdown)
    for output in outputs:
        output.write(output.path, runs)
        print(f"wrote {output.what} {output.path}", file=sys.stderr)
    return EXIT_OK
