"""The loadtui demo server and the reusable instrumentation."""

from server.background import mark_blocking
from server.instrument import Instrumentation, instrument

__all__ = ["Instrumentation", "instrument", "mark_blocking"]
