"""`--fail-if`: conditions on a comparison that make `loadtui compare` exit 3.

``p99 slower by 10%`` (p50, p90, p99, mean; ``%`` of the base or ``ms``), ``rps slower by 5%``
and ``errors above 1%`` (the new run's error rate). A condition holds only when the change is
beyond noise as well (its word is ``slower``): a change the interval cannot tell from 0 never
fails a build.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from loadtui.exits import UsageError
from loadtui.report.compare import Change

_SLOWER = re.compile(
    r"^\s*(p50|p90|p99|mean|rps)\s+slower\s+by\s+([0-9]+(?:\.[0-9]+)?)\s*(%|ms)\s*$",
    re.IGNORECASE,
)
_ERRORS = re.compile(r"^\s*errors\s+above\s+([0-9]+(?:\.[0-9]+)?)\s*%\s*$", re.IGNORECASE)
MAX_LIMIT = 1e6


@dataclass(frozen=True)
class Condition:
    text: str
    figure: str
    limit: float
    unit: str  # "%" of the base, "ms", or "rate" (errors above, in %)

    def holds(self, change: Change) -> bool:
        if change.word != "slower" or change.new is None:
            return False
        if self.unit == "rate":
            return change.new > self.limit
        if self.unit == "ms":
            delta = change.delta
            return delta is not None and delta >= self.limit
        percent = change.percent
        if percent is None:
            return False
        return -percent >= self.limit if self.figure == "rps" else percent >= self.limit


def parse(text: str) -> Condition:
    """A --fail-if condition; UsageError (exit 2) naming what is wrong with it."""
    shown = text.strip()[:80]
    slower, errors = _SLOWER.match(text), _ERRORS.match(text)
    if slower:
        figure, limit, unit = slower.group(1).lower(), float(slower.group(2)), slower.group(3)
        if figure == "rps" and unit == "ms":
            raise UsageError(f"--fail-if {shown!r}: req/s changes are given in %")
    elif errors:
        figure, limit, unit = "errors", float(errors.group(1)), "rate"
        if limit >= 100:
            raise UsageError(f"--fail-if {shown!r}: an error rate above {limit:g}% never holds")
    else:
        raise UsageError(
            f"--fail-if {shown!r}: expected e.g. 'p99 slower by 10%', 'p50 slower by 20ms', "
            "'rps slower by 5%' or 'errors above 1%'"
        )
    if not math.isfinite(limit) or limit > MAX_LIMIT:
        raise UsageError(f"--fail-if {shown!r}: the limit is out of range")
    return Condition(shown, figure, limit, unit.lower())


def breached(conditions: Sequence[Condition], found: Sequence[Change], label: str) -> list[str]:
    """A line for each condition that holds for these changes."""
    by_figure = {c.figure: c for c in found}
    return [
        f"{label}: {condition.text}"
        for condition in conditions
        if condition.figure in by_figure and condition.holds(by_figure[condition.figure])
    ]
