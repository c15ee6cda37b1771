"""File descriptors for the load: each user holds a connection, and the engine a few more.

The soft limit is raised to the hard one before the engine starts (it inherits it); a hard
limit too low for the users asked is one line naming it, before anything starts.
"""

from __future__ import annotations

import resource

SPARE = 64  # the engine's own descriptors beyond one socket per user


class HeadroomError(Exception):
    """Too few file descriptors for the load asked; the message is one line."""


def ensure(users: int) -> None:
    needed = users + SPARE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise HeadroomError(
            f"--users {users:,} needs about {needed:,} open files, but this process may open "
            f"{hard:,} (ulimit -n); raise the hard limit or use fewer users"
        )
    wanted = needed * 2 if hard == resource.RLIM_INFINITY else min(needed * 2, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
