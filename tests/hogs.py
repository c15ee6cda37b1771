"""CPU hogs for `make test-stress`: ``python tests/hogs.py N`` keeps N processes spinning, as
other work on a busy machine would, until it is stopped (SIGTERM, SIGINT) or the shell that
started it is gone. Nothing to install: the standard library only."""

from __future__ import annotations

import os
import signal
import sys
import time

CHECK_EVERY = 200_000  # loop turns between two looks at the parent (a few ms)


def spin(parent: int) -> None:
    """Busy until ``parent`` is gone (then this process's parent changes)."""
    while os.getppid() == parent:
        for _ in range(CHECK_EVERY):
            pass


def main(count: int) -> None:
    shell, me = os.getppid(), os.getpid()
    hogs = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            spin(me)
            os._exit(0)
        hogs.append(pid)

    def stop(_signum: int, _frame: object) -> None:
        for pid in hogs:
            os.kill(pid, signal.SIGKILL)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while os.getppid() == shell:  # the shell that started us ended without stopping us
        time.sleep(1.0)
    stop(signal.SIGTERM, None)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
