"""`loadtui compare BASE NEW`: did this change make the app slower?

Bad input (a --fail-if that does not parse, an output that cannot be written, files that do
not load, a run compared with itself, loads that differ without --allow-different-load) is
UsageError or RunFileError: one line, exit 2, before any bootstrap. Exit 3 when a --fail-if
holds, else 0.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from loadtui import exits
from loadtui.exits import UsageError
from loadtui.report import compare, compare_gate, compare_names, compare_out, step_summary
from loadtui.report.compare_boot import Boot, bootstrap
from loadtui.report.compare_input import Pair, differences, pairs
from loadtui.report.runs import Run
from loadtui.run.atomic import write_text_atomic
from loadtui.run.runfile import RunFileError, check_writable
from loadtui.safe_text import shown


def _outputs(args: argparse.Namespace) -> list[Path]:
    found = [args.html] if args.html else []
    if args.markdown and str(args.markdown) != "-":
        found.append(args.markdown)
    return found


def _check_outputs(outputs: Sequence[Path], inputs: Sequence[Path]) -> None:
    sources = {path.resolve() for path in inputs}
    for path in outputs:
        if path.resolve() in sources:
            raise UsageError(f"{path} is one of the run files read")
        try:
            check_writable(path)
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def _notes(found: Sequence[Pair], allow: bool) -> list[str | None]:
    notes: list[str | None] = []
    for pair in found:
        differ = differences(pair.base.doc, pair.new.doc)
        line = f"{pair.label}: the loads differ: {', '.join(differ)}" if differ else None
        if line and not allow:
            raise UsageError(f"{line} (give --allow-different-load to compare them anyway)")
        notes.append(line)
    return notes


def _sections(
    found: Sequence[Pair], notes: Sequence[str | None], seed: int
) -> list[compare_out.Section]:
    boots: dict[str, Boot] = {}

    def boot(run: Run) -> Boot:
        if run.source not in boots:
            try:
                boots[run.source] = bootstrap(run.doc, seed)
            except ValueError as exc:
                raise RunFileError(f"{run.source}: {exc}") from None
        return boots[run.source]

    sections = []
    for pair, note in zip(found, notes, strict=True):
        changes = compare.changes(boot(pair.base), boot(pair.new))
        sections.append(
            compare_out.Section(
                pair.label,
                pair.base.source,
                pair.new.source,
                changes,
                compare.overall(changes),
                note,
                _named(pair),
            )
        )
    return sections


def _named(pair: Pair) -> tuple[compare_out.Section, ...]:
    """Each request name of a mix that both runs have."""
    base, new = pair.base.doc, pair.new.doc
    theirs = {stats.name: stats for stats in new.requests}
    found = []
    for stats in base.requests:
        if stats.name not in theirs:
            continue
        changes = compare_names.changes(
            stats, theirs[stats.name], base.summary.duration_s, new.summary.duration_s
        )
        found.append(
            compare_out.Section(
                stats.name, pair.base.source, pair.new.source, changes, compare.overall(changes)
            )
        )
    return tuple(found)


def _colour() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _write(
    args: argparse.Namespace,
    sections: list[compare_out.Section],
    pairs_: list[Pair],
    breached: list[str],
) -> int:
    markdown = compare_out.markdown(sections, breached)
    if args.markdown and str(args.markdown) == "-":
        sys.stdout.write(markdown)
    try:
        if args.markdown and str(args.markdown) != "-":
            write_text_atomic(args.markdown, markdown)
            print(f"wrote Markdown {args.markdown}", file=sys.stderr)
        if args.html:
            from loadtui.report.compare_html import write_html  # only when asked: it costs imports

            write_html(args.html, sections, pairs_)
            print(f"wrote the HTML page {args.html}", file=sys.stderr)
    except OSError as exc:
        print(f"loadtui compare: could not write: {exc.strerror or exc}", file=sys.stderr)
        return exits.FAILED
    problem = step_summary.append(markdown)
    if problem:
        print(f"loadtui compare: {problem}", file=sys.stderr)
    return exits.OK


def compare_command(args: argparse.Namespace) -> int:
    conditions = [compare_gate.parse(text) for text in args.fail_if or ()]
    _check_outputs(_outputs(args), [args.base, args.new])
    found, unmatched = pairs(args.base, args.new)
    notes = _notes(found, args.allow_different_load)
    for line in unmatched:
        print(shown(line), file=sys.stderr)
    sections = _sections(found, notes, args.seed)
    breached = [
        line
        for section in sections
        for line in compare_gate.breached(conditions, section.changes, section.label)
    ]
    sys.stdout.write(compare_out.text(sections, _colour()))
    for line in breached:
        print(f"failed: {shown(line)}", file=sys.stderr)
    code = _write(args, sections, found, breached)
    if code != exits.OK:
        return code
    return exits.BREACHED if breached else exits.OK
