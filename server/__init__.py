"""The loadtui demo server and the reusable instrumentation."""

from .background import mark_blocking
from .instrument import Instrumentation, instrument

__all__ = ["Instrumentation", "instrument", "mark_blocking"]
