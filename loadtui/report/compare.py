"""Two runs side by side: each figure's change, a bootstrap interval for it, and one word.

The interval is 99.5 % per figure: the pair's word is "slower" when any of six figures is, and
for two runs of one build it stays "same" in 98-100 % of comparisons (95 % per figure would
cry wolf several times as often).

A figure is ``slower`` or ``faster`` only when its change is beyond noise: the interval leaves
out 0 and the change is at least the practical floor (FLOOR_PCT of the base, and for latency
at least FLOOR_MS as well; error rates FLOOR_ERRORS_PTS percentage points). Otherwise it is
``same``. For req/s, fewer is slower; for the error rate, more errors count as slower.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from loadtui.report.compare_boot import FIGURES, Boot

CONFIDENCE = 0.995
SPREAD_AT = 0.10  # the replicates' spread is read at this percentile and its mirror
MIN_UNITS = 3  # seconds each run needs for an interval
FLOOR_PCT = 3.0
FLOOR_MS = 0.5
FLOOR_ERRORS_PTS = 0.5
HIGHER_IS_FASTER = {"rps"}
_TAIL = 1.0 - (1.0 - CONFIDENCE) / 2.0
Z = NormalDist().inv_cdf(_TAIL)  # the normal quantile of a two-sided CONFIDENCE interval
UNITS = {"rps": "req/s", "errors": "%", "mean": "ms", "p50": "ms", "p90": "ms", "p99": "ms"}
LABELS = {
    "rps": "req/s",
    "p50": "p50",
    "p90": "p90",
    "p99": "p99",
    "mean": "mean",
    "errors": "errors",
}


@dataclass(frozen=True)
class Change:
    """One figure of two runs: its values, the change, the interval of the change, a word."""

    figure: str
    base: float | None
    new: float | None
    low: float | None  # the interval of new - base
    high: float | None
    word: str  # slower, faster or same

    @property
    def delta(self) -> float | None:
        return None if self.base is None or self.new is None else self.new - self.base

    @property
    def percent(self) -> float | None:
        delta = self.delta
        if delta is None or not self.base:
            return None
        return 100.0 * delta / self.base


def _quantile(ordered: Sequence[float], share: float) -> float:
    position = share * (len(ordered) - 1)
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def widening(units: int) -> float:
    """How much wider than the bootstrap's own the interval is made for ``units`` resampled.

    A bootstrap over few units (the seconds of a short run) is too narrow: its variance is
    (n - 1) / n of the true one, and its spread is itself estimated from n values, so the
    interval is widened by sqrt(n / (n - 1)) and by Student's t over the normal quantile
    (n - 1 degrees of freedom): x1.26 for 12 seconds, x1.01 for 200.
    """
    return _student(_TAIL, units - 1) / Z * math.sqrt(units / (units - 1))


def _student(tail: float, freedom: int) -> float:
    """Student's t quantile by the Cornish-Fisher expansion: 4 % low at 2 degrees of freedom,
    within 1 % from 3 on."""
    z, v = NormalDist().inv_cdf(tail), float(freedom)
    terms = (
        (z**3 + z) / (4 * v),
        (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2),
        (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3),
        (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * v**4),
    )
    return z + sum(terms)


def interval(base: Boot, new: Boot, figure: str) -> tuple[float, float] | None:
    """The interval of the change: the replicates' differences (pairs in order) read at their
    10th and 90th percentiles (steady even with few replicates, unlike their extreme tails),
    scaled to CONFIDENCE as for a normal spread (each side on its own: a skew is kept), widened
    for few seconds, never narrower than for independent requests, and placed around the runs'
    own change. None with fewer than MIN_UNITS
    seconds in either run, or no change to place it around."""
    before, after = base.point.get(figure), new.point.get(figure)
    pairs = zip(base.replicates[figure], new.replicates[figure], strict=False)
    differences = sorted(b - a for a, b in pairs)
    units = min(base.units, new.units)
    if before is None or after is None or not differences or units < MIN_UNITS:
        return None
    scale = Z / NormalDist().inv_cdf(1.0 - SPREAD_AT)
    low, high = _quantile(differences, SPREAD_AT), _quantile(differences, 1.0 - SPREAD_AT)
    # the replicates read percentiles between buckets, the runs' figures at a bucket's top:
    # the spread is the replicates', its centre the runs' own change
    centre, factor, delta = _quantile(differences, 0.5), widening(units) * scale, after - before
    # a bootstrap's spread of a percentile is erratic (it hangs on a few order statistics):
    # never narrower than independent requests' would be
    least = Z * math.hypot(base.floor_se.get(figure, 0.0), new.floor_se.get(figure, 0.0))
    below, above = max((centre - low) * factor, least), max((high - centre) * factor, least)
    return delta - below, delta + above


def below_floor(figure: str, base: float, delta: float) -> bool:
    if figure == "errors":
        return abs(delta) < FLOOR_ERRORS_PTS
    floor = abs(base) * FLOOR_PCT / 100.0
    if figure in UNITS and UNITS[figure] == "ms":
        floor = max(floor, FLOOR_MS)
    return abs(delta) < floor


def word(
    figure: str, base: float | None, delta: float | None, low: float | None, high: float | None
) -> str:
    if base is None or delta is None or low is None or high is None:
        return "same"
    if low <= 0.0 <= high or below_floor(figure, base, delta):
        return "same"
    worse = delta < 0 if figure in HIGHER_IS_FASTER else delta > 0
    return "slower" if worse else "faster"


def change(figure: str, base: Boot, new: Boot) -> Change:
    before, after = base.point.get(figure), new.point.get(figure)
    bounds = interval(base, new, figure)
    low, high = bounds if bounds else (None, None)
    delta = None if before is None or after is None else after - before
    return Change(figure, before, after, low, high, word(figure, before, delta, low, high))


def changes(base: Boot, new: Boot) -> list[Change]:
    return [change(figure, base, new) for figure in FIGURES]


def overall(found: Sequence[Change]) -> str:
    """slower when any figure is; faster when some are and none is slower; else same."""
    words = {c.word for c in found}
    if "slower" in words:
        return "slower"
    return "faster" if "faster" in words else "same"
