"""A run's figures as Prometheus shows them (``loadtui.run.exporter``): counters and histogram
buckets added up from the engines' interval snapshots as the run model receives them, and the
newest second's gauges. Each snapshot's histograms are decoded once, when it arrives (about once
a second an engine); what a scrape reads is plain numbers, published whole."""

from __future__ import annotations

import operator
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType

from loadtui.engine import hdr
from loadtui.engine.messages import IntervalSnapshot

# Prometheus histogram bounds (seconds) for latency and the first byte: from a millisecond to a
# minute, as k6's and most exporters' defaults run; slower requests count in +Inf only.
BOUNDS_S = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


@cache
def _ends() -> tuple[int, ...]:
    """Where the bounds fall in an HDR histogram's counts (the same for every loadtui histogram):
    counts[:ends[i]] are the buckets beginning at or below BOUNDS_S[i]. With hdr.bucket_middles,
    sums are taken at C speed, never a Python loop a count."""
    histogram = hdr.new_histogram()
    try:
        index = histogram.get_counts_array_index
        return tuple(index(round(bound * 1e6)) + 1 for bound in BOUNDS_S)
    finally:
        hdr.release(histogram)


@dataclass(frozen=True)
class Buckets:
    """A Prometheus histogram: ``counts[i]`` values at or below ``BOUNDS_S[i]`` (cumulative;
    the last one beyond them is +Inf, the count), and their sum in seconds."""

    counts: tuple[int, ...] = (0,) * (len(BOUNDS_S) + 1)
    sum_s: float = 0.0

    @property
    def count(self) -> int:
        return self.counts[-1]

    def plus(self, encoded: str | None) -> Buckets:
        """These buckets with an HDR histogram's values added. A value counts at or below a
        bound when its HDR bucket begins there (HDR keeps 3 significant figures: 0.1 %)."""
        if encoded is None:
            return self
        histogram = hdr.decode(encoded)
        try:
            top = histogram.get_counts_array_index(histogram.max_value) + 1
            counts = histogram.counts[:top]
            total = histogram.total_count
        finally:
            hdr.release(histogram)
        added, start = [], 0
        for end in _ends():  # the bounds' segments, each count summed once
            added.append((added[-1] if added else 0) + sum(counts[start:end]))
            start = end
        added.append(total)
        total_us = sum(map(operator.mul, counts, hdr.bucket_middles()))
        return Buckets(tuple(map(operator.add, self.counts, added)), self.sum_s + total_us / 1e6)


@dataclass(frozen=True)
class NameFigures:
    """One request name (a scenario's, or the one route) over the run so far."""

    requests: int = 0
    errors: MappingProxyType[str, int] = field(default_factory=lambda: MappingProxyType({}))
    latency: Buckets = Buckets()
    first_byte: Buckets = Buckets()


@dataclass(frozen=True)
class EngineGauges:
    """One engine's newest second."""

    users: int
    in_flight: int
    rps: float
    cpu_percent: float
    loop_lag_ms: float


def _name_plus(
    figures: NameFigures,
    requests: int,
    errors: dict[str, int],
    latency: str,
    first_byte: str | None,
) -> NameFigures:
    counted = Counter(figures.errors)
    counted.update(errors)
    return NameFigures(
        requests=figures.requests + requests,
        errors=MappingProxyType(dict(counted)),
        latency=figures.latency.plus(latency),
        first_byte=figures.first_byte.plus(first_byte),
    )


@dataclass(frozen=True)
class Figures:
    """What one run's series show, at one moment (never changed: a new one replaces it)."""

    by_name: MappingProxyType[str, NameFigures] = field(
        default_factory=lambda: MappingProxyType({})
    )
    engines: MappingProxyType[int, EngineGauges] = field(
        default_factory=lambda: MappingProxyType({})
    )
    elapsed_s: float = 0.0

    def plus(self, snap: IntervalSnapshot, engine: int, route: str, t0: float) -> Figures:
        """These figures with engine ``engine``'s snapshot added; a single request's figures
        are named ``route``, a scenario's by their names."""
        parts = [
            (name, part.requests, part.errors, part.latency_hdr, part.first_byte_hdr)
            for name, part in (snap.by_name or {}).items()
        ] or [(route, snap.requests, snap.errors, snap.latency_hdr, snap.first_byte_hdr)]
        by_name = dict(self.by_name)
        for name, *part in parts:
            by_name[name] = _name_plus(by_name.get(name, NameFigures()), *part)
        engines = dict(self.engines)
        engines[engine] = EngineGauges(
            users=snap.users,
            in_flight=snap.in_flight,
            rps=snap.requests / snap.seconds,
            cpu_percent=snap.cpu_percent,
            loop_lag_ms=snap.loop_lag_ms,
        )
        return Figures(
            MappingProxyType(by_name),
            MappingProxyType(engines),
            max(self.elapsed_s, snap.ended_mono - t0),
        )
