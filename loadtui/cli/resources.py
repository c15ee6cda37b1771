"""What a command takes for itself once its input is checked, and gives back at its end: the
run file, claimed so that no other run writes it, and the Ray cluster --ray joins or starts.

Each is taken after every check of ``loadtui.cli.options`` has passed; a failure here is still
one line and exit 2, with nothing else started.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from loadtui.cli.options import cores, shared_by, writable
from loadtui.exits import UsageError

if TYPE_CHECKING:
    from loadtui.fleet.ray_engines import RayCluster
    from loadtui.run.runfile import Claim


def claimed(path: Path, force: bool) -> Claim:
    """The run file, checked writable and claimed for this run (UsageError if it exists and
    ``force`` is not given, or another run is writing it)."""
    from loadtui.run.runfile import Claim

    writable(path, "the run file")
    try:
        return Claim(path, force)
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None


def placed(args: argparse.Namespace, count: int, least_users: int) -> tuple[int, RayCluster | None]:
    """Join or start the Ray cluster --ray names (None without --ray), and the engine count
    checked against its CPUs. UsageError when there is no cluster to join, or it is too small
    (nothing else has started)."""
    mode = getattr(args, "ray", None)
    if mode is None:
        return count, None
    from loadtui.fleet.ray_engines import RayUnavailable, connect

    try:
        cluster = connect(mode, cores())
    except RayUnavailable as exc:
        raise UsageError(str(exc)) from None
    if args.engines == "auto":
        count = max(1, cluster.cpus)
    try:
        if count > cluster.cpus:
            raise UsageError(
                f"--engines {count}: the Ray cluster has {cluster.cpus} CPUs, and an engine "
                "needs one"
            )
        return shared_by(count, least_users), cluster
    except UsageError:
        cluster.close()
        raise
