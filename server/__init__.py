"""The loadtui demo server and the reusable instrumentation."""

from .apppaths import InstrumentError
from .background import mark_blocking
from .instrument import Instrumentation, instrument

__all__ = ["InstrumentError", "Instrumentation", "instrument", "mark_blocking"]
