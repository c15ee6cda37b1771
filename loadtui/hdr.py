"""HDR histograms of latency in microseconds: create, ship as text, merge, summarise."""

from __future__ import annotations

import ctypes
import sys
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour
SIGNIFICANT_FIGURES = 3
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)


def reset(histogram: HdrHistogram) -> None:
    """Empty a histogram in place (hdrh's own reset loops in Python: 1.4 ms, this ~10 us)."""
    counts = histogram.counts
    ctypes.memset(counts, 0, ctypes.sizeof(counts))
    histogram.total_count = 0
    histogram.min_value = sys.maxsize
    histogram.max_value = 0
    histogram.start_time_stamp_msec = sys.maxsize
    histogram.end_time_stamp_msec = 0


def release(histogram: HdrHistogram) -> None:
    """Break the histogram <-> encoder reference cycle of a histogram no longer needed.

    Without it every dropped histogram (~190 kB) waits for a full cyclic GC pass, and a
    long run's memory creeps up.
    """
    histogram.encoder.histogram = None


def record_us(histogram: HdrHistogram, microseconds: int) -> None:
    histogram.record_value(min(max(microseconds, LOWEST_US), HIGHEST_US))


def encode(histogram: HdrHistogram) -> str:
    return histogram.encode().decode("ascii")


def decode(data: str) -> HdrHistogram:
    histogram = new_histogram()
    add_encoded(histogram, data)
    return histogram


def merge(into: HdrHistogram, other: HdrHistogram) -> None:
    """Add ``other`` to ``into``, losslessly.

    hdrh's own ``add`` sets the minimum to 0 whenever either side is empty; the raw
    ``min_value`` (sys.maxsize when empty) keeps the true minimum.
    """
    if other.get_total_count() == 0:
        return
    lowest = min(into.min_value, other.min_value)
    into.add(other)
    into.min_value = lowest


def add_encoded(histogram: HdrHistogram, data: str) -> None:
    decoded = HdrHistogram.decode(data.encode("ascii"))
    merge(histogram, decoded)
    release(decoded)


def recorded(histogram: HdrHistogram) -> list[tuple[int, int]]:
    """(value in us, count) for every non-empty bucket; ~10x faster than hdrh's iterator."""
    counts = histogram.counts
    return [
        (histogram.get_value_from_index(index), counts[index])
        for index in range(histogram.counts_len)
        if counts[index]
    ]


@dataclass(frozen=True)
class LatencySummary:
    """Latency figures in milliseconds; all None when nothing was recorded."""

    count: int
    min: float | None
    mean: float | None
    p50: float | None
    p90: float | None
    p99: float | None
    p999: float | None
    max: float | None

    def as_dict(self) -> dict[str, float | None]:
        return {
            "min": self.min,
            "mean": self.mean,
            "p50": self.p50,
            "p90": self.p90,
            "p99": self.p99,
            "p999": self.p999,
            "max": self.max,
        }


NOTHING = LatencySummary(0, None, None, None, None, None, None, None)


def _ms(microseconds: float) -> float:
    return round(microseconds / 1000.0, 3)


def summarize(histogram: HdrHistogram) -> LatencySummary:
    count = histogram.get_total_count()
    if count == 0:
        return NOTHING
    values = histogram.get_percentile_to_value_dict(list(PERCENTILES))
    return LatencySummary(
        count=count,
        min=_ms(histogram.get_min_value()),
        mean=_ms(histogram.get_mean_value()),
        p50=_ms(values[50.0]),
        p90=_ms(values[90.0]),
        p99=_ms(values[99.0]),
        p999=_ms(values[99.9]),
        max=_ms(histogram.get_max_value()),
    )
