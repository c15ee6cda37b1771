"""The loadtui demo server and the reusable instrumentation (``from loadtui import instrument``).

Names are imported on first use: commands that only name demo routes (``loadtui.server.variants``)
never load Starlette or prometheus_client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["InstrumentError", "Instrumentation", "instrument", "mark_blocking"]

if TYPE_CHECKING:
    from .apppaths import InstrumentError
    from .background import mark_blocking
    from .instrumentation import Instrumentation, instrument

_HOMES = {
    "InstrumentError": "apppaths",
    "mark_blocking": "background",
    "Instrumentation": "instrumentation",
    "instrument": "instrumentation",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'loadtui.server' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{home}", __name__), name)
