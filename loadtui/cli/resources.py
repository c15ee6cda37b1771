"""What a command takes for itself once its input is checked, and gives back at its end: the
run file, claimed so that no other run writes it, the Ray cluster --ray joins or starts, and the
loopback port --prometheus-port serves on.

Each is taken after every check of ``loadtui.cli.options`` has passed; a failure here is still
one line and exit 2, with nothing else started.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from loadtui import exits
from loadtui.cli.options import cores, shared_by, writable
from loadtui.exits import UsageError

if TYPE_CHECKING:
    from loadtui.fleet.ray_engines import RayCluster
    from loadtui.run.exporter import LiveMetrics
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


def prometheus(args: argparse.Namespace, command: str) -> LiveMetrics | None:
    """--prometheus-port's loopback port taken, its URL said on stderr (None without it).
    UsageError when the port cannot be had (in use, or not ours to take)."""
    port = getattr(args, "prometheus_port", None)
    if port is None:
        return None
    from loadtui.run.exporter import DEFAULT_LINGER_S, LiveMetrics

    linger = args.prometheus_linger
    try:
        live = LiveMetrics.serve(port, DEFAULT_LINGER_S if linger is None else linger)
    except OSError as exc:
        raise UsageError(f"--prometheus-port {port}: {exc.strerror or exc}") from None
    print(f"{command}: Prometheus metrics at {live.url}", file=sys.stderr, flush=True)
    return live


def linger(live: LiveMetrics | None, command: str, code: int) -> int:
    """After a command ending in ``code``: its final figures served until a scrape has read
    them, at most --prometheus-linger seconds (not after Ctrl-C; Ctrl-C here leaves at once).
    ``code``, unchanged."""
    if live is None or code == exits.INTERRUPTED or live.linger_s <= 0 or live.all_scraped():
        return code
    print(
        f"{command}: the final figures stay at {live.url} until scraped (at most "
        f"{live.linger_s:g} s; Ctrl-C leaves)",
        file=sys.stderr,
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        live.linger()
    return code


@dataclass(frozen=True)
class Taken:
    engines: int  # the engine count, checked against the cluster's CPUs
    cluster: RayCluster | None
    live: LiveMetrics | None


@contextlib.contextmanager
def taken(
    args: argparse.Namespace, command: str, engines: int, least_users: int
) -> Iterator[Taken]:
    """The cluster (``placed``) and the Prometheus port (``prometheus``), given back when the
    command ends however it ends: the port first, then the cluster."""
    with contextlib.ExitStack() as stack:
        engines, cluster = placed(args, engines, least_users)
        if cluster is not None:
            stack.callback(cluster.close)
        live = prometheus(args, command)
        if live is not None:
            stack.callback(live.close)
        yield Taken(engines, cluster, live)
