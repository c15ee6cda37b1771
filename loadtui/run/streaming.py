"""Time to first byte and streaming responses over a run: the engines' interval figures added
up (for the whole run and for each name), and read out as the run document has them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

from loadtui.engine import hdr
from loadtui.engine.messages import StreamInterval
from loadtui.run.rundoc import MIN_INTERVAL_S, Histogram, LatencyMs, StreamStats


def add_optional(histogram: HdrHistogram | None, encoded: str | None) -> HdrHistogram | None:
    """``histogram`` with ``encoded`` added (made when the first one comes)."""
    if encoded is None:
        return histogram
    histogram = histogram if histogram is not None else hdr.new_histogram()
    hdr.add_encoded(histogram, encoded)
    return histogram


def latency_ms(histogram: HdrHistogram | None) -> LatencyMs | None:
    return None if histogram is None else LatencyMs.of(hdr.summarize(histogram))


@dataclass
class StreamTotals:
    """The streams of a run (or of one name), added up as the engines' intervals arrive."""

    streams: int = 0
    events: int = 0
    chunks: int = 0
    gaps: HdrHistogram = field(default_factory=hdr.new_histogram)
    first_piece: HdrHistogram = field(default_factory=hdr.new_histogram)
    duration: HdrHistogram = field(default_factory=hdr.new_histogram)

    def add(self, interval: StreamInterval) -> float | None:
        """Add an interval's figures; its longest gap, ms (None: it saw none)."""
        self.streams += interval.streams
        self.events += interval.events
        self.chunks += interval.chunks
        for histogram, encoded in (
            (self.first_piece, interval.first_piece_hdr),
            (self.duration, interval.duration_hdr),
        ):
            if encoded is not None:
                hdr.add_encoded(histogram, encoded)
        if interval.gap_hdr is None:
            return None
        gaps = hdr.decode(interval.gap_hdr)
        hdr.merge(self.gaps, gaps)
        longest = hdr.summarize(gaps).max
        hdr.release(gaps)
        return longest

    def histograms(self) -> dict[str, HdrHistogram]:
        """By their names in the run document."""
        return {"gap": self.gaps, "first_piece": self.first_piece, "duration": self.duration}

    def stats(self, duration_s: float) -> StreamStats:
        histograms = self.histograms()
        return StreamStats(
            streams=self.streams,
            events=self.events,
            chunks=self.chunks,
            events_per_s=round(self.events / max(duration_s, MIN_INTERVAL_S), 3),
            gap_ms=LatencyMs.of(hdr.summarize(self.gaps)),
            first_piece_ms=LatencyMs.of(hdr.summarize(self.first_piece)),
            duration_ms=LatencyMs.of(hdr.summarize(self.duration)),
            histograms={
                name: Histogram(data=hdr.encode(histogram))
                for name, histogram in histograms.items()
                if histogram.total_count
            },
        )


def add_stream(totals: StreamTotals | None, interval: StreamInterval | None) -> StreamTotals | None:
    """``totals`` with ``interval`` added (made when the first stream is seen)."""
    if interval is None:
        return totals
    totals = totals if totals is not None else StreamTotals()
    totals.add(interval)
    return totals


def merged(found: Sequence[StreamStats | None], duration_s: float) -> StreamStats | None:
    """Several runs' streams as one (``loadtui report --merge``): counts and histograms add."""
    present = [stream for stream in found if stream is not None]
    if not present:
        return None
    totals = StreamTotals(
        streams=sum(s.streams for s in present),
        events=sum(s.events for s in present),
        chunks=sum(s.chunks for s in present),
    )
    into = totals.histograms()
    for stream in present:
        for name, histogram in stream.histograms.items():
            hdr.add_encoded(into[name], histogram.data)
    return totals.stats(duration_s)
