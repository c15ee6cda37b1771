"""Merge run files of one route at one load into one run, losslessly.

The rule: the runs were made at the same time against one server (say from several machines),
so what the server was asked adds up. Requests, errors, users and rates add; req/s is the summed
requests over the longest run's duration (runs of equal length add their rates); histograms add
(``hdr.merge``). Per-second intervals add by index: second 1 of each run with second 1 of the
others. Server and generator gauges, read by several observers, keep the highest reading; the
server's stalls are listed once each; a verdict code is kept once, at its highest severity.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from hdrh.histogram import HdrHistogram
from pydantic import BaseModel

from loadtui import hdr
from loadtui.rundoc import (
    SEVERITY_ORDER,
    Histogram,
    LatencyMs,
    Load,
    MergedFrom,
    RequestStats,
    RunDocument,
    StallWindow,
    Summary,
    TimelineEntry,
    Verdict,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
ADDITIVE = ("requests", "errors", "rps", "users", "in_flight", "unsent")


def merge_key(doc: RunDocument) -> tuple[Any, ...]:
    """Runs with equal keys are the same route at the same load."""
    target, load = doc.target, doc.load
    return (target.route, target.variant, load.mode, load.users, load.rate)


def highest(values: Sequence[Any]) -> Any:
    """The highest reading of one gauge among several observers; dicts key by key."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    if all(isinstance(v, dict) for v in present):
        keys = dict.fromkeys(key for value in present for key in value)
        return {key: highest([value.get(key) for value in present]) for key in keys}
    if all(isinstance(v, int | float) for v in present):
        return max(present)
    return present[0]


def highest_model(models: Sequence[M]) -> M:
    """Several observers' readings of one set of gauges: the highest of each."""
    dumped = [m.model_dump() for m in models]
    return type(models[0]).model_validate(highest(dumped))


def _strongest(items: Iterable[T], key: Callable[[T], Any], rank: Callable[[T], Any]) -> list[T]:
    """One item per key, the one of highest rank, in order of first appearance."""
    found: dict[Any, T] = {}
    for item in items:
        kept = found.get(key(item))
        if kept is None or rank(item) > rank(kept):
            found[key(item)] = item
    return list(found.values())


def _added(encoded: Iterable[str]) -> HdrHistogram:
    histogram = hdr.new_histogram()
    for data in encoded:
        hdr.add_encoded(histogram, data)
    return histogram


def _counts(dicts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for counts in dicts:
        total.update(counts)
    return dict(total)


def _histogram(blocks: Sequence[Histogram]) -> Histogram:
    return blocks[0].model_copy(update={"data": hdr.encode(_added(b.data for b in blocks))})


def _latency(block: Histogram | None) -> LatencyMs | None:
    return None if block is None else LatencyMs.of(hdr.summarize(hdr.decode(block.data)))


def _histograms(docs: Sequence[RunDocument]) -> dict[str, Histogram]:
    names = dict.fromkeys(name for doc in docs for name in doc.histograms)
    return {
        name: _histogram([d.histograms[name] for d in docs if name in d.histograms])
        for name in names
    }


def _duration(doc: RunDocument) -> float:
    return doc.summary.duration_s or doc.load.duration_s or 0.0


def _summary(
    docs: Sequence[RunDocument], latency: Histogram, extra: dict[str, Histogram]
) -> Summary:
    requests = sum(d.summary.requests for d in docs)
    duration = max(_duration(d) for d in docs)
    unsent = [d.summary.unsent for d in docs if d.summary.unsent is not None]
    return Summary(
        requests=requests,
        errors=sum(d.summary.errors for d in docs),
        errors_by_kind=_counts(d.summary.errors_by_kind for d in docs),
        duration_s=duration,
        rps=round(requests / duration, 3) if duration else sum(d.summary.rps for d in docs),
        latency_ms=_latency(latency),
        latency_uncorrected_ms=_latency(extra.get("uncorrected")),
        send_lag_ms=_latency(extra.get("send_lag")),
        unsent=sum(unsent) if unsent else None,
    )


def _second(entries: Sequence[TimelineEntry]) -> TimelineEntry:
    merged = highest([e.model_dump() for e in entries])
    for key in ADDITIVE:
        merged[key] = round(sum(getattr(e, key) for e in entries), 3)
    merged["errors_by_kind"] = _counts(e.errors_by_kind for e in entries)
    encoded = [e.hdr for e in entries if e.hdr is not None]
    if encoded:
        histogram = _added(encoded)
        latency = hdr.summarize(histogram)
        merged["hdr"] = hdr.encode(histogram)
        merged.update(
            p50_ms=latency.p50, p90_ms=latency.p90, p99_ms=latency.p99, max_ms=latency.max
        )
    return TimelineEntry.model_validate(merged)


def _timeline(docs: Sequence[RunDocument]) -> list[TimelineEntry]:
    length = max(len(d.timeline) for d in docs)
    return [_second([d.timeline[i] for d in docs if i < len(d.timeline)]) for i in range(length)]


def _requests(docs: Sequence[RunDocument], duration: float) -> list[RequestStats]:
    """Each named request added up over the runs, by name."""
    by_name: dict[str, list[RequestStats]] = {}
    for doc in docs:
        for stats in doc.requests:
            by_name.setdefault(stats.name, []).append(stats)
    merged = []
    for group in by_name.values():
        histogram = _histogram([s.histogram for s in group])
        requests = sum(s.requests for s in group)
        merged.append(
            group[0].model_copy(
                update={
                    "requests": requests,
                    "errors": sum(s.errors for s in group),
                    "errors_by_kind": _counts(s.errors_by_kind for s in group),
                    "rps": round(requests / duration, 3) if duration else 0.0,
                    "latency_ms": _latency(histogram),
                    "histogram": histogram,
                }
            )
        )
    return merged


def _stalls(docs: Sequence[RunDocument]) -> list[StallWindow]:
    kept = _strongest(
        (stall for d in docs for stall in d.server.stalls),
        key=lambda s: (s.started_at, s.culprit),
        rank=lambda s: s.duration_s,
    )
    return sorted(kept, key=lambda s: s.started_at)


def _verdicts(docs: Sequence[RunDocument]) -> list[Verdict]:
    kept = _strongest(
        (v for d in docs for v in d.verdicts),
        key=lambda v: v.code,
        rank=lambda v: -SEVERITY_ORDER[v.severity],
    )
    return sorted(kept, key=lambda v: SEVERITY_ORDER[v.severity])


def _load(docs: Sequence[RunDocument]) -> Load:
    loads = [d.load for d in docs]
    rates = [load.rate for load in loads if load.rate is not None]
    durations = [load.duration_s for load in loads if load.duration_s is not None]
    return loads[0].model_copy(
        update={
            "users": sum(load.users for load in loads),
            "spawn_rate": sum(load.spawn_rate for load in loads),
            "rate": sum(rates) if loads[0].rate is not None else None,
            "duration_s": max(durations) if durations else None,
        }
    )


def merge_documents(docs: Sequence[RunDocument]) -> RunDocument:
    """One run document holding all of ``docs`` (same route and load, see the module's rule)."""
    latency = _histogram([d.histogram for d in docs])
    extra = _histograms(docs)
    started = [d.started_at for d in docs if d.started_at is not None]
    finished = [d.finished_at for d in docs if d.finished_at is not None]
    return docs[0].model_copy(
        update={
            "started_at": min(started, default=None),
            "finished_at": max(finished, default=None),
            "state": next((d.state for d in docs if d.state != "finished"), "finished"),
            "interrupted": any(d.interrupted for d in docs),
            "run_id": "+".join(d.run_id or "?" for d in docs),
            "load": _load(docs),
            "summary": _summary(docs, latency, extra),
            "histogram": latency,
            "histograms": extra,
            "requests": _requests(docs, max(_duration(d) for d in docs)),
            "timeline": _timeline(docs),
            "server": highest_model([d.server for d in docs]).model_copy(
                update={"stalls": _stalls(docs)}
            ),
            "generator": highest_model([d.generator for d in docs]),
            "verdicts": _verdicts(docs),
            "merged_from": [
                MergedFrom(run_id=d.run_id, started_at=d.started_at, finished_at=d.finished_at)
                for d in docs
            ],
            "gate": None,  # each part was judged on its own figures, not on the merged ones
        }
    )
