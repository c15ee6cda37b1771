"""Latency percentiles read from HDR histograms: Locust's fixed columns, and the log-spaced
spectrum HdrHistogram's plots draw (x is the number of nines, log10(1 / (1 - p)))."""

from __future__ import annotations

from collections.abc import Sequence

from hdrh.histogram import HdrHistogram

LOCUST_PERCENTILES = (50.0, 66.0, 75.0, 80.0, 90.0, 95.0, 98.0, 99.0, 99.9, 99.99, 100.0)
NINES = 5  # the spectrum ends at 99.999 %
POINTS_PER_NINE = 40


def values_ms(histogram: HdrHistogram, percentiles: Sequence[float]) -> dict[float, float]:
    """Latency in ms at each percentile (0-100); empty when nothing was recorded."""
    found = histogram.get_percentile_to_value_dict(list(percentiles))
    return {p: found[p] / 1000.0 for p in percentiles if p in found}


def percentile_of_nines(nines: float) -> float:
    return 100.0 * (1.0 - 10.0**-nines)


def spectrum(histogram: HdrHistogram) -> list[tuple[float, float]]:
    """(nines, latency ms) from 0 % to 99.999 %; empty when nothing was recorded."""
    nines = [i / POINTS_PER_NINE for i in range(NINES * POINTS_PER_NINE + 1)]
    percentiles = [percentile_of_nines(x) for x in nines]
    values = values_ms(histogram, percentiles)
    if not values:
        return []
    return [(x, values[p]) for x, p in zip(nines, percentiles, strict=True)]
