"""Each named request of a mix, compared: the run file keeps a histogram per name for the whole
run only (not per second), so its intervals are those of independent requests: a percentile's
from its order statistics, the mean's from the spread of latencies, req/s's from a Poisson
count, the error rate's from a binomial one. They are narrower than a bootstrap over seconds
would be when seconds differ (a slow minute), so a name's word is a hint beside the run's."""

from __future__ import annotations

import math

from hdrh.histogram import HdrHistogram

from loadtui.engine import hdr
from loadtui.report.compare import Change, Z, word
from loadtui.report.compare_boot import FIGURES, PERCENTILES, Percentiles, order_se, point
from loadtui.run.rundoc import RequestStats


def _mean_se(histogram: HdrHistogram) -> float:
    """The standard error of the mean latency (ms)."""
    count = histogram.total_count
    if count < 2:
        return 0.0
    recorded = hdr.recorded(histogram)
    mean = sum(value * n for value, n in recorded) / count
    spread = sum(n * (value - mean) ** 2 for value, n in recorded) / (count - 1)
    return math.sqrt(spread / count) / 1e3


def _figures(stats: RequestStats, duration_s: float) -> tuple[dict, dict]:
    """The name's figures and each one's standard error."""
    requests = stats.requests
    share = stats.errors / requests if requests else 0.0
    se = {
        "rps": math.sqrt(requests) / duration_s if duration_s > 0 else 0.0,
        "errors": 100.0 * math.sqrt(share * (1.0 - share) / requests) if requests else 0.0,
    }
    histogram = hdr.decode(stats.histogram.data)
    try:
        if histogram.total_count:
            whole = Percentiles(histogram)
            se |= {name: order_se(whole, p) for name, p in PERCENTILES.items()}
            se["mean"] = _mean_se(histogram)
    finally:
        hdr.release(histogram)
    return point(stats), se


def changes(base: RequestStats, new: RequestStats, base_s: float, new_s: float) -> list[Change]:
    """The named request's figures side by side, with a normal interval for each change."""
    (before, before_se), (after, after_se) = _figures(base, base_s), _figures(new, new_s)
    found = []
    for figure in FIGURES:
        a, b = before[figure], after[figure]
        if a is None or b is None or figure not in before_se or figure not in after_se:
            found.append(Change(figure, a, b, None, None, "same"))
            continue
        half = Z * math.hypot(before_se[figure], after_se[figure])
        delta = b - a
        low, high = delta - half, delta + half
        found.append(Change(figure, a, b, low, high, word(figure, a, delta, low, high)))
    return found
