"""GitHub Actions' job summary: when ``GITHUB_STEP_SUMMARY`` names a file, ``run`` and
``matrix`` append their Markdown summary and breaches to it, whole or not at all."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Sequence

from loadtui.report import tables
from loadtui.run.rundoc import RunDocument

ENV = "GITHUB_STEP_SUMMARY"


def write(command: str, docs: Sequence[RunDocument], breached: Sequence[str]) -> str | None:
    """The runs' Markdown block and the breaches, appended when GitHub asks for them; None when
    done (or not asked for), else one line saying why not."""
    parts = [f"### loadtui {command}", "", tables.runs_block(docs, markdown=True)]
    if breached:
        parts += ["", "**Breached** (exit code 3)", ""]
        parts += [f"- {line}".replace("<", "&lt;") for line in breached]
    return append("\n".join(parts))


def append(markdown: str) -> str | None:
    """Append ``markdown``; None when done (or not asked for), else one line saying why not."""
    path = os.environ.get(ENV)
    if not path:
        return None
    data = markdown.rstrip("\n").encode("utf-8") + b"\n\n"
    try:
        _append(path, data)
    except OSError as exc:
        return f"cannot append to {ENV} ({path}): {exc.strerror or exc}"
    return None


def _append(path: str, data: bytes) -> None:
    # O_NONBLOCK: a FIFO without a reader fails at once instead of hanging the run's end
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o666)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        size = os.fstat(fd).st_size
        try:
            # one write with O_APPEND: never interleaved with another writer's lines
            if os.write(fd, data) != len(data):
                raise OSError("short write (is the disk full?)")
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)  # whole or not at all
            raise
    finally:
        os.close(fd)
