"""The runs a report is made of: run files named or found in directories, loaded, and with
``--merge`` runs of one route made at the same time merged (see ``loadtui.merge`` for the rule)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtui.report import tables
from loadtui.run import runfile
from loadtui.run.rundoc import RunDocument
from loadtui.run.runfile import RunFileError


@dataclass(frozen=True)
class Run:
    name: str  # unique among the report's runs, safe in a file name
    sources: tuple[str, ...]  # the files it came from (several when merged)
    doc: RunDocument

    @property
    def source(self) -> str:
        return " + ".join(self.sources)

    @property
    def label(self) -> str:
        return f"{tables.route_label(self.doc)} @ {tables.load_label(self.doc)}"


def _natural(path: Path) -> list[Any]:
    """Sort key that puts route-5-10u before route-5-100u."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def find_run_files(paths: Sequence[Path]) -> list[Path]:
    """Files as given; directories searched recursively for *.json, in natural order."""
    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            found.append(path)
            continue
        inside = sorted((p for p in path.rglob("*.json") if p.is_file()), key=_natural)
        if not inside:
            raise RunFileError(f"{path}: no run files (*.json) in this directory")
        found += inside
    return list(dict.fromkeys(found))


def _unique(name: str, taken: set[str]) -> str:
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name}-{number}"
    taken.add(candidate)
    return candidate


def load_runs(paths: Sequence[Path]) -> list[Run]:
    """Every run file, validated; the first bad one raises RunFileError naming it."""
    taken: set[str] = set()
    return [
        Run(_unique(re.sub(r"[^\w.-]+", "_", path.stem), taken), (str(path),), runfile.load(path))
        for path in paths
    ]


def _merged(group: Sequence[Run]) -> Run:
    from loadtui.report.merge import merge_documents  # only --merge pays for its import

    by_id: dict[str, Run] = {}
    for run in group:
        run_id = run.doc.run_id
        if run_id in by_id:
            raise RunFileError(
                f"{run.source}: the same run as {by_id[run_id].source} (run_id {run_id}); "
                "merging would count it twice"
            )
        if run_id is not None:
            by_id[run_id] = run
    return Run(
        f"merged-{group[0].name}",
        tuple(source for run in group for source in run.sources),
        merge_documents([run.doc for run in group]),
    )


def merge_runs(runs: Sequence[Run]) -> list[Run]:
    """Runs of one route made at the same time become one, in the order each first appears."""
    from loadtui.report.merge import merge_key, together

    by_route: dict[tuple[Any, ...], list[Run]] = {}
    for run in runs:
        by_route.setdefault(merge_key(run.doc), []).append(run)
    groups = [group for same in by_route.values() for group in together(same, lambda r: r.doc)]
    order = {id(run): position for position, run in enumerate(runs)}
    groups.sort(key=lambda group: order[id(group[0])])
    return [group[0] if len(group) == 1 else _merged(group) for group in groups]
