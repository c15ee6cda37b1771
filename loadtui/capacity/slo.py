"""``--slo``: a latency a step must stay under, in the grammar of the gate's thresholds
(``p99<200ms``, ``orders.p99<500ms``, ``ttfb_p99<100ms``) but only upper bounds of times, and
none that no run could meet (``p99<0ms``). Errors below 1 % are always asked besides."""

from __future__ import annotations

from collections.abc import Collection

from loadtui.run.gate import TIMES, ThresholdError, parse_threshold
from loadtui.run.rundoc import Threshold

UPPER = ("<", "<=")


def parse_slo(text: str, names: Collection[str] = ()) -> Threshold:
    """One SLO, or ThresholdError (one line)."""
    slo = parse_threshold(text, names)
    if slo.metric not in TIMES:
        raise ThresholdError(
            f"'{text}': an SLO is a time ({', '.join(TIMES)}); errors < 1 % are always asked"
        )
    if slo.comparison not in UPPER:
        raise ThresholdError(f"'{text}': an SLO is an upper bound: use < or <=")
    if slo.limit <= 0:
        raise ThresholdError(f"'{text}': can never hold (no request takes {slo.limit:g} ms)")
    return slo
