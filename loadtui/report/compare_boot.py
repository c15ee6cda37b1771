"""A run's figures and their bootstrap: the run's seconds resampled with replacement.

Each second of a run file keeps its own HDR histogram; a replicate picks the run's seconds at
random (as many as it has, with replacement), adds them up and reads the figures (req/s, error
rate, mean, p50, p90, p99). The spread of the replicates is the run-to-run noise the
comparison's intervals are made of.

Fast without numpy: every second is boiled down once to one integer holding fixed 64-bit
fields (its length, requests, errors, latencies counted and summed, and its cumulative counts
at a few dozen latencies around each percentile of the whole run), so that adding up a
replicate's seconds is one ``sum()`` of big integers in C. A replicate's percentile is read
between the two bracketing latencies, interpolated on a log scale (the candidates are ~4.5 %
apart; a percentile beyond them all, four times off the run's own, is read at the edge).
"""

from __future__ import annotations

import ctypes
import math
import random
from array import array
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from operator import mul

from hdrh.histogram import HdrHistogram
from pyhdrh import add_array

from loadtui.engine import hdr
from loadtui.run.rundoc import RequestStats, RunDocument, Summary, TimelineEntry

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0}
FIGURES = ("rps", "p50", "p90", "p99", "mean", "errors")
REPLICATES = 500  # the spread is read at the 10th and 90th percentiles: 50 replicates beyond each
CANDIDATES = 64  # latencies per percentile at which each second's cumulative count is kept
SPAN = 4.0  # ... from the run's own percentile / SPAN to * SPAN
MAX_BLOCKS = 200  # a longer run is resampled in blocks of consecutive seconds
_FIXED = 5  # length (ms), requests, errors, latencies counted, latencies summed (us)
_LIMIT = 2**64


@dataclass(frozen=True)
class Boot:
    """A run's figures (None: nothing measured) and as many replicates of each."""

    point: dict[str, float | None]
    replicates: dict[str, list[float]]
    units: int  # the blocks resampled (seconds, in a run of up to MAX_BLOCKS seconds)
    # each percentile's standard error were the requests independent: the least it can be
    floor_se: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Grid:
    index: list[int]  # bucket indices, rising
    values_ms: list[float]  # the highest latency each bucket holds


class Percentiles:
    """A histogram's percentiles as hdrh reads them, from one pass over its buckets (hdrh's
    get_value_at_percentile walks them in Python on every call)."""

    def __init__(self, histogram: HdrHistogram) -> None:
        self.histogram = histogram
        recorded = hdr.recorded(histogram)
        self.values = [value for value, _ in recorded]
        self.cumulative = list(accumulate(count for _, count in recorded))

    def at(self, percentile: float) -> int:
        target = max(1, int(percentile / 100.0 * self.histogram.total_count + 0.5))
        index = min(bisect_left(self.cumulative, target), len(self.values) - 1)
        return self.histogram.get_highest_equivalent_value(self.values[index])


def _grid(percentiles: Percentiles, percentile: float) -> _Grid:
    centre, whole = percentiles.at(percentile), percentiles.histogram
    step = SPAN ** (2.0 / (CANDIDATES - 1))
    found: dict[int, float] = {}
    for j in range(CANDIDATES):
        value = max(1, int(centre / SPAN * step**j))
        index = whole.get_counts_array_index(min(value, hdr.HIGHEST_US))
        found[index] = whole.get_highest_equivalent_value(whole.get_value_from_index(index)) / 1e3
    ordered = sorted(found)
    return _Grid(ordered, [found[i] for i in ordered])


def _counts(histogram: HdrHistogram) -> memoryview:
    return memoryview(histogram.counts).cast("B").cast("Q")


class _Block:
    """Consecutive seconds added up in one counts array.

    Each second is decoded into one scratch array (hdr.decode_counts: no histogram built) and
    the range it used added with hdrh's C helper (hdr.decode would build two histograms of
    190 kB a second and add all of them).
    """

    def __init__(self) -> None:
        self.histogram = hdr.new_histogram()  # its counts, and its index arithmetic
        self.scratch = hdr.zero_counts()
        self.low, self.high, self.total = len(self.scratch), -1, 0

    def add(self, data: str) -> None:
        total, low, high = hdr.decode_counts(data, self.scratch)
        if not total:
            return
        start, length = low * hdr.WORD_BYTES, high - low + 1
        scratch = ctypes.addressof(self.scratch) + start
        add_array(ctypes.addressof(self.histogram.counts) + start, scratch, length, hdr.WORD_BYTES)
        ctypes.memset(scratch, 0, length * hdr.WORD_BYTES)
        self.low, self.high = min(self.low, low), max(self.high, high)
        self.total += total

    def clear(self) -> None:
        if self.total:
            start = ctypes.addressof(self.histogram.counts) + self.low * hdr.WORD_BYTES
            ctypes.memset(start, 0, (self.high - self.low + 1) * hdr.WORD_BYTES)
        self.low, self.high, self.total = len(self.scratch), -1, 0

    def release(self) -> None:
        hdr.release(self.histogram)


class _Packer:
    """Each block of a run's seconds as one list of fields."""

    def __init__(self, grids: Sequence[_Grid]) -> None:
        self.grids = grids
        self.top = max((g.index[-1] for g in grids), default=0) + 1
        self.block = _Block()

    def fields(self, entries: Sequence[TimelineEntry]) -> list[int]:
        """One block of consecutive seconds, added up."""
        block = self.block
        block.clear()
        for entry in entries:
            if entry.hdr is not None:
                block.add(entry.hdr)
        length = sum(entry.length_s for entry in entries)
        requests = sum(entry.requests for entry in entries)
        errors = sum(entry.errors for entry in entries)
        return [round(length * 1000), requests, errors, *self._latencies()]

    def _latencies(self) -> list[int]:
        block = self.block
        if block.total == 0:
            return [0, 0] + [0] * sum(len(g.index) for g in self.grids)
        counts = _counts(block.histogram)
        low, high = block.low, block.high + 1
        summed = sum(map(mul, counts[low:high], hdr.bucket_middles()[low:high]))
        running = list(accumulate(counts[low : max(low, min(high, self.top))]))
        found = [block.total, summed]
        for grid in self.grids:
            for index in grid.index:
                if index < low:
                    found.append(0)
                elif index - low < len(running):
                    found.append(running[index - low])
                else:
                    found.append(block.total)
        return found


def _pack(fields: list[int]) -> int:
    return int.from_bytes(array("Q", fields).tobytes(), "little")


def _figures(fields: Sequence[int], grids: Sequence[_Grid]) -> dict[str, float | None]:
    length_ms, requests, errors, counted, summed = fields[:_FIXED]
    found: dict[str, float | None] = {
        "rps": requests * 1000.0 / length_ms if length_ms else None,
        "errors": 100.0 * errors / requests if requests else None,
        "mean": summed / counted / 1e3 if counted else None,
    }
    offset = _FIXED
    for name, grid in zip(PERCENTILES, grids, strict=True):
        width = len(grid.index)
        cumulative = fields[offset : offset + width]
        found[name] = _read(cumulative, grid, PERCENTILES[name], counted) if counted else None
        offset += width
    return found


def _read(cumulative: Sequence[int], grid: _Grid, percentile: float, counted: int) -> float:
    target = max(1, int(percentile / 100.0 * counted + 0.5))  # as hdrh counts it
    k = bisect_left(cumulative, target)
    if k == 0:
        return grid.values_ms[0]
    if k == len(cumulative):
        return grid.values_ms[-1]
    below, above = cumulative[k - 1], cumulative[k]
    low, high = grid.values_ms[k - 1], grid.values_ms[k]
    share = (target - below) / (above - below)
    return low * (high / low) ** share


def point(stats: Summary | RequestStats) -> dict[str, float | None]:
    """A run's own figures (or one request name's), as its file states them."""
    latency = stats.latency_ms
    return {
        "rps": stats.rps,
        "errors": 100.0 * stats.errors / stats.requests if stats.requests else None,
        "mean": latency.mean,
        "p50": latency.p50,
        "p90": latency.p90,
        "p99": latency.p99,
    }


def bootstrap(doc: RunDocument, seed: int, replicates: int = REPLICATES) -> Boot:
    """The run's figures and ``replicates`` replicates of each, the same for the same seed."""
    histogram = hdr.decode(doc.histogram.data)
    try:
        grids = [_Grid([0], [0.0]) for _ in PERCENTILES]
        floor: dict[str, float] = {}
        if histogram.total_count:
            whole = Percentiles(histogram)
            grids = [_grid(whole, p) for p in PERCENTILES.values()]
            floor = {name: order_se(whole, p) for name, p in PERCENTILES.items()}
    finally:
        hdr.release(histogram)
    timeline, packer = doc.timeline, _Packer(grids)
    length = block_length(len(timeline))
    try:
        blocks = [
            packer.fields(timeline[start : start + length])
            for start in range(0, len(timeline), length)
        ]
    finally:
        packer.block.release()
    return Boot(
        point(doc.summary), _replicates(blocks, grids, seed, replicates), len(blocks), floor
    )


def order_se(whole: Percentiles, percentile: float) -> float:
    """A percentile's standard error (ms) from the order statistics of independent requests:
    half the span between the percentiles one binomial standard deviation either side."""
    share = percentile / 100.0
    step = 100.0 * math.sqrt(share * (1.0 - share) / whole.histogram.total_count)
    low = whole.at(max(0.0, percentile - step))
    high = whole.at(min(100.0, percentile + step))
    return (high - low) / 2e3


def block_length(seconds: int) -> int:
    """Seconds per block: one in a run of up to MAX_BLOCKS seconds, more in a longer one."""
    return max(1, -(-seconds // MAX_BLOCKS))


def _replicates(
    seconds: list[list[int]], grids: Sequence[_Grid], seed: int, count: int
) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {name: [] for name in FIGURES}
    n = len(seconds)
    if n == 0:
        return found
    highest = max(max(fields) for fields in seconds)
    if highest * n >= _LIMIT:
        raise ValueError("figures too large to resample")
    packed = [_pack(fields) for fields in seconds]
    width = len(seconds[0])
    rng = random.Random(seed)
    for _ in range(count):
        raw = array("I", rng.randbytes(4 * n))
        picks = map(packed.__getitem__, map(n.__rmod__, raw))
        total = array("Q", sum(picks).to_bytes(8 * width, "little"))
        for name, value in _figures(total, grids).items():
            if value is not None and math.isfinite(value):
                found[name].append(value)
    return found
