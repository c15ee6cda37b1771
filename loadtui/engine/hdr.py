"""HDR histograms of latency in microseconds: create, ship as text, merge, summarise, and read
percentiles (Locust's fixed columns, and the log-spaced spectrum HdrHistogram's plots draw:
x is the number of nines, log10(1 / (1 - p)))."""

from __future__ import annotations

import array
import base64
import binascii
import ctypes
import functools
import struct
import sys
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from hdrh.codec import payload_header_size
from hdrh.histogram import HdrHistogram
from pyhdrh import decode as pyhdrh_decode

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


_WORD = array.array("Q")
WORD_BYTES = _WORD.itemsize  # a count in hdrh's arrays


@functools.cache
def _scratch_histogram() -> HdrHistogram:
    """The one hdrh histogram Recorder.histogram() fills (and the layout's arithmetic)."""
    return new_histogram()


@functools.cache
def bucket_middles() -> tuple[int, ...]:
    """Each bucket's middle value, µs, by its index in the counts of loadtui's histograms: what
    a bucket weighs in a mean (as summarize counts it)."""
    histogram = _scratch_histogram()
    lowest, highest = histogram.get_value_from_index, histogram.get_highest_equivalent_value
    middles = []
    for index in range(histogram.counts_len):
        value = lowest(index)
        middles.append(value + (highest(value) - value + 1) // 2)
    return tuple(middles)


class Recorder:
    """Records microseconds for one histogram: the engine's hot path.

    hdrh's bucket arithmetic is inlined (its ``record_value`` takes ~0.9 us a value in Python,
    this ~0.17 us), the counts are a Python list (adding to an item of a list costs a third of
    adding to one of hdrh's ctypes array) and the count, minimum and maximum are kept here;
    ``histogram`` copies the range recorded into an hdrh histogram (one for all recorders) once
    a snapshot. Values outside [LOWEST_US, HIGHEST_US] are clamped to them."""

    __slots__ = (
        "_bucket_shift",
        "_half_magnitude",
        "_index",
        "_mask",
        "_unit",
        "count",
        "counts",
        "least",
        "most",
    )

    def __init__(self) -> None:
        histogram = _scratch_histogram()
        self._index = histogram.get_counts_array_index
        self._mask = histogram.sub_bucket_mask
        self._half_magnitude = histogram.sub_bucket_half_count_magnitude
        self._unit = histogram.unit_magnitude
        self._bucket_shift = self._unit + self._half_magnitude + 1
        if ctypes.sizeof(histogram.counts) != histogram.counts_len * WORD_BYTES:
            raise RuntimeError("hdrh's counts are not 64-bit words")  # histogram() copies them
        self.counts = [0] * histogram.counts_len
        self.count = self.most = 0
        self.least = sys.maxsize

    def record(self, microseconds: int) -> None:
        value = microseconds
        if value < LOWEST_US:  # (comparisons: a third cheaper than min() and a conditional)
            value = LOWEST_US
        elif value > HIGHEST_US:
            value = HIGHEST_US
        bucket = (value | self._mask).bit_length() - self._bucket_shift
        self.counts[(bucket << self._half_magnitude) + (value >> (bucket + self._unit))] += 1
        self.count += 1
        if value < self.least:
            self.least = value
        if value > self.most:
            self.most = value

    def _recorded(self) -> slice:
        return slice(self._index(self.least), self._index(self.most) + 1)

    def reset(self) -> None:
        if self.count:
            span = self._recorded()
            self.counts[span] = [0] * (span.stop - span.start)
        self.count = self.most = 0
        self.least = sys.maxsize

    def histogram(self) -> HdrHistogram:
        """What was recorded since the last reset, as an hdrh histogram: the same one for every
        recorder and every call (encode it before the next)."""
        histogram = _scratch_histogram()
        reset(histogram)
        if self.count:
            span = self._recorded()
            copied = array.array(_WORD.typecode, self.counts[span])
            at = ctypes.addressof(histogram.counts) + span.start * copied.itemsize
            ctypes.memmove(at, copied.buffer_info()[0], len(copied) * copied.itemsize)
            histogram.total_count = self.count
            histogram.min_value = self.least
            histogram.max_value = self.most
        return histogram

    def encoded(self) -> str | None:
        """What was recorded, encoded; None when nothing was."""
        return encode(self.histogram()) if self.count else None


def record_us(histogram: HdrHistogram, microseconds: int) -> None:
    """One value into ``histogram``, clamped as the Recorder clamps (not the hot path)."""
    histogram.record_value(min(max(microseconds, LOWEST_US), HIGHEST_US))


def encode(histogram: HdrHistogram) -> str:
    return histogram.encode().decode("ascii")


# hdrh's V2 encoding: base64 of (cookie, length, zlib(payload header + varint counts))
_OUTER = struct.Struct(">II")
_HEADER = struct.Struct(">IIIIQQd")  # cookie, payload length, offset, figures, lowest, highest
_COMPRESSION_COOKIE, _ENCODING_COOKIE = 0x1C849304, 0x1C849303
_MAX_VARINT_BYTES = 9


def _most_counts() -> int:
    histogram = new_histogram()
    try:
        return histogram.counts_len
    finally:
        release(histogram)


MOST_PAYLOAD_BYTES = _most_counts() * _MAX_VARINT_BYTES


def check_encoding(data: str) -> None:
    """Raise ValueError unless ``data`` is a histogram of loadtui's range and precision.

    Read from the headers alone, before hdrh allocates anything: a histogram declaring
    another range would make hdrh build (and walk) a counts array of any size, and a
    compressed payload larger than the counts can need is a zip bomb.
    """
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if len(raw) < _OUTER.size:
        raise ValueError("too short")
    cookie, length = _OUTER.unpack_from(raw)
    if cookie & ~0xF0 != _COMPRESSION_COOKIE or length != len(raw) - _OUTER.size:
        raise ValueError("not an HdrHistogram V2 encoding")
    inflate = zlib.decompressobj()
    try:
        header = inflate.decompress(raw[_OUTER.size :], _HEADER.size)
    except zlib.error:
        raise ValueError("the payload is not zlib data") from None
    if len(header) < _HEADER.size:
        raise ValueError("the payload header is cut short")
    cookie, payload, offset, figures, lowest, highest, ratio = _HEADER.unpack(header)
    if cookie & ~0xF0 != _ENCODING_COOKIE:
        raise ValueError("not an HdrHistogram V2 payload")
    if (lowest, highest, figures, offset, ratio) != (
        LOWEST_US,
        HIGHEST_US,
        SIGNIFICANT_FIGURES,
        0,
        1.0,
    ):
        raise ValueError(
            f"range {lowest}-{highest} at {figures} figures is not loadtui's "
            f"({LOWEST_US}-{HIGHEST_US} us at {SIGNIFICANT_FIGURES})"
        )
    if payload > MOST_PAYLOAD_BYTES:
        raise ValueError("its payload is larger than its counts can be")
    try:
        rest = inflate.decompress(inflate.unconsumed_tail, payload + 1)
    except zlib.error:
        raise ValueError("the payload is not zlib data") from None
    if len(rest) > payload or inflate.unconsumed_tail:
        raise ValueError("its payload is larger than its header says")


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
    """(lowest value in us, count) of every non-empty bucket, in order: one pass over the raw
    counts, ~10x faster than hdrh's iterator."""
    if histogram.total_count == 0:
        return []
    counts = histogram.counts
    top = histogram.get_counts_array_index(histogram.max_value) + 1
    value_of = histogram.get_value_from_index
    return [(value_of(i), counts[i]) for i in range(top) if counts[i]]


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


NOTHING = LatencySummary(0, None, None, None, None, None, None, None)


def _ms(microseconds: float) -> float:
    return round(microseconds / 1000.0, 3)


def summarize(histogram: HdrHistogram) -> LatencySummary:
    """Count, min, mean, percentiles and max, as hdrh computes them, in one pass.

    hdrh's get_mean_value walks every bucket below the maximum with its Python iterator
    (~80 ms for latencies of seconds); the UI summarises at up to 4 Hz per pane.
    """
    count = histogram.get_total_count()
    if count == 0:
        return NOTHING
    highest = histogram.get_highest_equivalent_value
    targets = {p: histogram.get_target_count_at_percentile(p) for p in PERCENTILES}
    found: dict[float, int] = {}
    seen = 0
    weighted = 0
    for value, n in recorded(histogram):
        top = highest(value)
        weighted += (value + (top - value + 1) // 2) * n
        seen += n
        for percentile, target in targets.items():
            if percentile not in found and seen >= target:
                found[percentile] = top
    return LatencySummary(
        count=count,
        min=_ms(histogram.get_min_value()),
        mean=_ms(weighted / count),
        p50=_ms(found[50.0]),
        p90=_ms(found[90.0]),
        p99=_ms(found[99.0]),
        p999=_ms(found[99.9]),
        max=_ms(histogram.get_max_value()),
    )


# ---- percentiles for reports -----------------------------------------------------------------
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


# ---- counts without a histogram: checking run files, resampling their seconds ---------------
def zero_counts() -> ctypes.Array:
    """An all-zero counts array of loadtui's histograms, for decode_counts."""
    return (ctypes.c_uint64 * _scratch_histogram().counts_len)()


def decode_counts(data: str, counts: ctypes.Array) -> tuple[int, int, int]:
    """Write the counts of ``data`` (passed by check_encoding) into ``counts``, all zero before:
    (total, lowest index, highest index). No histogram is built (a third of decode()'s cost);
    ValueError if the counts do not decode."""
    payload = zlib.decompress(base64.b64decode(data)[_OUTER.size :])
    try:
        found = pyhdrh_decode(
            payload, payload_header_size, ctypes.addressof(counts), len(counts), WORD_BYTES
        )
    except (IndexError, OverflowError) as exc:
        raise ValueError(str(exc)) from None
    return found["total"], found["min_nonzero_index"], found["max_nonzero_index"]


def check_counts(data: str) -> None:
    """ValueError unless the counts of ``data`` (passed by check_encoding) decode."""
    decode_counts(data, zero_counts())
