"""How a stack frame's file is shown in ``/stalls``: relative to the root it was imported from.

A stall report travels (to loadtui, into run files, into bug reports): absolute paths would
show the app's home directory and its virtualenv's layout. A module's dotted name is its path
below the ``sys.path`` entry it came from, so ``starlette.routing`` shows as
``starlette/routing.py`` and the app's ``app.main`` as ``app/main.py``.
"""

from __future__ import annotations

import functools
import os
from types import FrameType

_PACKAGE_FILE = "__init__.py"


def shown_file(frame: FrameType) -> str:
    return _shown(frame.f_code.co_filename, frame.f_globals.get("__name__"))


@functools.lru_cache(maxsize=4096)
def _shown(filename: str, module: object) -> str:
    base = os.path.basename(filename)
    if not os.path.isabs(filename):  # "<string>", "<frozen runpy>", already relative
        return filename
    if not isinstance(module, str) or not module or module == "__main__":
        return _relative_to_cwd(filename) or base
    parts = module.split(".")
    if base == _PACKAGE_FILE:
        return "/".join([*parts, base])
    return "/".join([*parts[:-1], base])


def _relative_to_cwd(filename: str) -> str | None:
    cwd = os.getcwd()
    if filename.startswith(cwd + os.sep):
        return filename[len(cwd) + 1 :]
    return None
