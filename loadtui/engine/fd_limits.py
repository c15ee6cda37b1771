"""File descriptors for the load: each user holds a connection, and the engine a few more.

The soft limit is raised to the hard one before the engines start (they inherit it); a hard
limit too low for the users asked is one line naming it, before anything starts. With several
engines each holds its share of the users, and this process two descriptors per engine.
"""

from __future__ import annotations

import resource

SPARE = 64  # the engine's own descriptors beyond one socket per user
PER_ENGINE = 2  # this process's: the engine's socket and its log file


class HeadroomError(Exception):
    """Too few file descriptors for the load asked; the message is one line."""


def needed(users: int, engines: int = 1) -> int:
    """Open files one process needs: the largest share of users, or the engines' handles."""
    return max(-(-users // engines), PER_ENGINE * engines) + SPARE


def ensure(users: int, engines: int = 1) -> None:
    need = needed(users, engines)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        load = f"--users {users:,}" + (f" over --engines {engines}" if engines > 1 else "")
        raise HeadroomError(
            f"{load} needs about {need:,} open files a process, but this process may open "
            f"{hard:,} (ulimit -n); raise the hard limit or use fewer users"
        )
    wanted = need * 2 if hard == resource.RLIM_INFINITY else min(need * 2, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
