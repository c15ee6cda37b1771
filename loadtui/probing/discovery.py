"""Which processes serve a target, and where each might keep its metrics sidecar, found from the
operating system alone: nothing here needs the target's event loop to answer (psutil only).

A listening socket may be shared by several processes: ``uvicorn --workers N`` and gunicorn
open it in a supervisor and hand it to every worker, yet the kernel names only one holder. So
the family of the holder (its parent, its siblings, its children) is searched for every
process that holds a socket listening on the target's port; the ones that are the parent of
another holder are supervisors, the rest are the workers that answer requests.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import psutil

WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1"}


@dataclass(frozen=True)
class ListeningSocket:
    host: str  # where to connect: a wildcard address becomes the loopback one
    port: int


def _listening(process: psutil.Process) -> list[ListeningSocket]:
    try:
        found = process.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return []
    return [
        ListeningSocket(WILDCARDS.get(c.laddr.ip, c.laddr.ip), c.laddr.port)
        for c in found
        if c.status == psutil.CONN_LISTEN and c.laddr
    ]


def _holders_by_kernel(port: int) -> set[int]:
    with contextlib.suppress(psutil.Error, OSError):
        return {
            c.pid
            for c in psutil.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid
        }
    return set()


def _family(pid: int) -> list[psutil.Process]:
    try:
        process = psutil.Process(pid)
        parent = process.parent()
        relatives = [process, *process.children()]
        if parent is not None:
            relatives += [parent, *parent.children()]
    except psutil.Error:
        return []
    return list({p.pid: p for p in relatives}.values())


def serving_workers(port: int, known: int | None = None) -> list[int]:
    """The pids of the processes that answer requests on ``port`` (a loopback target's),
    supervisors left out; ``known``: a pid already known to hold it (a spawned server)."""
    seeds = _holders_by_kernel(port) | ({known} if known else set())
    holders: dict[int, psutil.Process] = {}
    for seed in seeds:
        for process in _family(seed):
            if any(listener.port == port for listener in _listening(process)):
                holders[process.pid] = process
    parents = set()
    for process in holders.values():
        with contextlib.suppress(psutil.Error):
            parents.add(process.ppid())
    return sorted(pid for pid in holders if pid not in parents)


def other_listeners(pid: int, port: int) -> list[ListeningSocket]:
    """The other sockets ``pid`` listens on: where its metrics sidecar may be."""
    try:
        process = psutil.Process(pid)
    except psutil.Error:
        return []
    return [listener for listener in _listening(process) if listener.port != port]
