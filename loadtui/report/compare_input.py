"""What `loadtui compare BASE NEW` compares: two run files, or the runs of two directories
matched by route and request names, each pair checked to be worth comparing.

Anything wrong is a RunFileError (one line, exit 2) raised before any bootstrap is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtui.report import tables
from loadtui.report.runs import Run, find_run_files, load_runs
from loadtui.run.rundoc import RunDocument
from loadtui.run.runfile import RunFileError

DURATION_TOLERANCE = 0.10  # durations that differ by more than this share are a different load


@dataclass(frozen=True)
class Pair:
    base: Run
    new: Run

    @property
    def label(self) -> str:
        return self.base.label


def _key(doc: RunDocument) -> tuple[Any, ...]:
    """Runs with equal keys are the same route (and mix) under the same kind of load."""
    names = tuple(sorted(r.name for r in doc.requests))
    rate = (doc.load.stages_text or doc.load.rate) if doc.load.mode == "open" else None
    users = doc.load.users if doc.load.mode == "closed" else None
    return (doc.target.route, doc.target.variant, names, doc.load.mode, users, rate)


def _by_key(runs: list[Run], where: Path) -> dict[tuple[Any, ...], Run]:
    found: dict[tuple[Any, ...], Run] = {}
    for run in runs:
        key = _key(run.doc)
        if key in found:
            raise RunFileError(
                f"{where}: {found[key].source} and {run.source} are both {run.label}; "
                "compare them file by file"
            )
        found[key] = run
    return found


def _matched(base_dir: Path, new_dir: Path) -> tuple[list[Pair], list[str]]:
    base = _by_key(load_runs(find_run_files([base_dir])), base_dir)
    new = _by_key(load_runs(find_run_files([new_dir])), new_dir)
    pairs = [Pair(run, new[key]) for key, run in base.items() if key in new]
    unmatched = [f"only in {base_dir}: {run.label}" for k, run in base.items() if k not in new]
    unmatched += [f"only in {new_dir}: {run.label}" for k, run in new.items() if k not in base]
    if not pairs:
        raise RunFileError(f"no run in {base_dir} matches one in {new_dir} (route and requests)")
    return pairs, unmatched


def _same_run(pair: Pair) -> None:
    base, new = pair.base, pair.new
    if Path(base.sources[0]).resolve() == Path(new.sources[0]).resolve():
        raise RunFileError(f"{base.source}: a run compared with itself (the same file)")
    if base.doc.run_id is not None and base.doc.run_id == new.doc.run_id:
        raise RunFileError(
            f"{new.source}: the same run as {base.source} (run_id {base.doc.run_id})"
        )


def pairs(base: Path, new: Path) -> tuple[list[Pair], list[str]]:
    """The pairs to compare and a line for each run left without a partner."""
    if base.is_dir() != new.is_dir():
        raise RunFileError(f"{base} and {new}: compare two run files or two directories")
    if base.is_dir():
        found, unmatched = _matched(base, new)
    else:
        first, second = load_runs([base, new])
        found, unmatched = [Pair(first, second)], []
    for pair in found:
        _same_run(pair)
    return found, unmatched


def _workers(doc: RunDocument) -> int | None:
    return len(doc.server.workers) or None


def _duration(doc: RunDocument) -> float:
    return doc.load.duration_s or doc.summary.duration_s


def differences(base: RunDocument, new: RunDocument) -> list[str]:
    """How the two runs' loads differ (empty: the same load)."""
    found = []
    checks = [
        ("route", tables.route_label(base), tables.route_label(new)),
        ("loop", base.load.mode, new.load.mode),
        ("users", base.load.users, new.load.users),
        (
            "rate",
            base.load.stages_text or base.load.rate,
            new.load.stages_text or new.load.rate,
        ),
        ("think time", base.load.think_s, new.load.think_s),
        ("requests", sorted(r.name for r in base.requests), sorted(r.name for r in new.requests)),
    ]
    found = [f"{what} {a} vs {b}" for what, a, b in checks if a != b]
    before, after = _duration(base), _duration(new)
    if abs(before - after) > DURATION_TOLERANCE * max(before, after):
        found.append(f"duration {before:g} s vs {after:g} s")
    workers = _workers(base), _workers(new)
    if None not in workers and workers[0] != workers[1]:
        found.append(f"server workers {workers[0]} vs {workers[1]}")
    return found
