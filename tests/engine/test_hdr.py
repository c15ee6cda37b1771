"""loadtui.engine.hdr: loadtui's HDR helpers agree with hdrh's own (slower) computations, value for
value."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from loadtui.engine import hdr

LATENCIES = st.lists(st.integers(min_value=0, max_value=4_000_000_000), min_size=1, max_size=300)


@settings(max_examples=200, deadline=None)
@given(LATENCIES)
def test_summarize_matches_hdrh(values):
    histogram = hdr.new_histogram()
    for value in values:
        hdr.record_us(histogram, value)
    summary = hdr.summarize(histogram)
    expected = histogram.get_percentile_to_value_dict(list(hdr.PERCENTILES))
    assert summary.count == len(values)
    assert summary.mean == round(histogram.get_mean_value() / 1000, 3)
    assert [summary.p50, summary.p90, summary.p99, summary.p999] == [
        round(expected[p] / 1000, 3) for p in hdr.PERCENTILES
    ]
    assert summary.min == round(histogram.get_min_value() / 1000, 3)
    assert summary.max == round(histogram.get_max_value() / 1000, 3)


@settings(max_examples=100, deadline=None)
@given(LATENCIES, LATENCIES)
def test_merge_keeps_the_true_minimum_and_every_count(first, second):
    a, b, both = hdr.new_histogram(), hdr.new_histogram(), hdr.new_histogram()
    for value in first:
        hdr.record_us(a, value)
        hdr.record_us(both, value)
    for value in second:
        hdr.record_us(b, value)
        hdr.record_us(both, value)
    merged = hdr.new_histogram()
    for part in (hdr.new_histogram(), a, hdr.new_histogram(), b):  # empty ones included
        hdr.add_encoded(merged, hdr.encode(part))
    assert hdr.recorded(merged) == hdr.recorded(both)
    assert hdr.summarize(merged) == hdr.summarize(both)


def test_reset_empties_in_place():
    histogram = hdr.new_histogram()
    for value in (5, 50_000, 9_000_000):
        hdr.record_us(histogram, value)
    counts = histogram.counts
    hdr.reset(histogram)
    assert histogram.counts is counts and hdr.recorded(histogram) == []
    assert hdr.summarize(histogram) == hdr.NOTHING
    hdr.record_us(histogram, 7)
    assert hdr.summarize(histogram).min == 0.007


BUCKET_EDGES = [v for n in range(33) for v in (2**n - 1, 2**n, 2**n + 1)]


@settings(max_examples=200, deadline=None)
@given(LATENCIES)
@example([*BUCKET_EDGES, 0, hdr.HIGHEST_US, hdr.HIGHEST_US + 1])
def test_recorder_fills_the_buckets_hdrh_would(values):
    theirs = hdr.new_histogram()
    recorder = hdr.Recorder()
    for value in [1, 2**40, *values]:  # recorded, then reset: nothing of it may remain
        recorder.record(value)
    recorder.reset()
    assert recorder.encoded() is None and hdr.recorded(recorder.histogram()) == []
    for value in values:
        recorder.record(value)
        theirs.record_value(min(max(value, hdr.LOWEST_US), hdr.HIGHEST_US))
    ours = recorder.histogram()
    assert hdr.recorded(ours) == hdr.recorded(theirs)
    assert (ours.total_count, ours.min_value, ours.max_value) == (
        theirs.total_count,
        theirs.min_value,
        theirs.max_value,
    )
    assert hdr.encode(ours) == hdr.encode(theirs) == recorder.encoded()
    assert hdr.encode(recorder.histogram()) == recorder.encoded()  # read twice, the same


def test_recorders_share_one_scratch_histogram_without_mixing_their_values():
    fast, slow = hdr.Recorder(), hdr.Recorder()
    for value in (90, 110, 130):
        fast.record(value)
        slow.record(value * 1000)
    fast_encoded, slow_encoded = fast.encoded(), slow.encoded()
    assert fast_encoded is not None and slow_encoded is not None
    fast_seen, slow_seen = (hdr.summarize(hdr.decode(e)) for e in (fast_encoded, slow_encoded))
    assert (fast_seen.count, fast_seen.min, fast_seen.max) == (3, 0.09, 0.13)
    assert slow_seen.count == 3 and slow_seen.min > 89.9 and slow_seen.max < 130.1
