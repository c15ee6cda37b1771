"""loadtui: watch what FastAPI's sync routes, async routes, thread pool and background tasks
really do under load.

The public API for your own app::

    from loadtui import instrument, mark_blocking

Both are imported on first use, so that the command line and the engine never load Starlette.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "instrument", "mark_blocking"]

if TYPE_CHECKING:
    from loadtui.server import instrument, mark_blocking


def __getattr__(name: str) -> Any:
    if name in ("instrument", "mark_blocking"):
        from loadtui import server

        return getattr(server, name)
    raise AttributeError(f"module 'loadtui' has no attribute {name!r}")
