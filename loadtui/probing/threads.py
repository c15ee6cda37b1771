"""A sidecar's ``/samples`` answer, checked: who held the worker's threads, second by second.

Nothing in it is trusted: at most ``MAX_SECONDS`` seconds of ``MAX_HOLDERS`` holders per group,
every number finite and in range, every text cut to a bound (and shown as text later).
"""

from __future__ import annotations

import math
from typing import Any

from loadtui.probing.samples import Holder, ThreadsLook

MAX_SECONDS = 60
MAX_HOLDERS = 16
MAX_THREADS = 100_000.0
GROUPS = ("loop", "pool", "other")
_EPOCH_RANGE = (946_684_800, 32_503_680_000)  # 2000 to 3000


def share(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value) if 0.0 <= value <= 1.0 else None
    return None


def _text(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _holder(raw: Any) -> Holder | None:
    if not isinstance(raw, dict):
        return None
    function, threads = _text(raw.get("function"), 200), raw.get("threads")
    valid = isinstance(threads, int | float) and not isinstance(threads, bool)
    if not function or not valid or not math.isfinite(threads) or not 0 <= threads <= MAX_THREADS:
        return None
    return Holder(
        function=function,
        location=_text(raw.get("location"), 300),
        leaf=_text(raw.get("leaf"), 120),
        threads=float(threads),
        on_cpu=share(raw.get("on_cpu")) or 0.0,
        python=share(raw.get("python")) or 0.0,
        waiting_for=_text(raw.get("waiting_for"), 40),
        db_pool=_text(raw.get("db_pool"), 60),
        background=raw.get("background") is True,
    )


def _holders(raw: Any) -> tuple[Holder, ...]:
    listed = raw[:MAX_HOLDERS] if isinstance(raw, list) else []
    return tuple(h for item in listed if (h := _holder(item)) is not None)


def _look(raw: Any, pid: int | None) -> ThreadsLook | None:
    if not isinstance(raw, dict):
        return None
    epoch = raw.get("second")
    if not isinstance(epoch, int) or isinstance(epoch, bool):
        return None
    if not _EPOCH_RANGE[0] <= epoch <= _EPOCH_RANGE[1]:
        return None
    groups = {group: _holders(raw.get(group)) for group in GROUPS}
    return ThreadsLook(epoch=epoch, pid=pid, loop_busy=share(raw.get("loop_busy")), **groups)


def parse_samples(answer: Any, pid: int | None) -> list[ThreadsLook]:
    """The seconds in a ``/samples`` answer that pass every check, oldest first."""
    raw = answer.get("seconds") if isinstance(answer, dict) else None
    listed = raw[-MAX_SECONDS:] if isinstance(raw, list) else []
    looks = [look for item in listed if (look := _look(item, pid)) is not None]
    return sorted({look.epoch: look for look in looks}.values(), key=lambda look: look.epoch)
