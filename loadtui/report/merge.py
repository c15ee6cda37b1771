"""Merge run files of one route made at the same time into one run, losslessly.

The rule: runs of one route whose times overlap were made together against one server (say from
several machines, each with its share: 34/33/33 users, or rates that differ), so what the server
was asked adds up. Requests, errors, users and rates add; req/s is the summed requests over the
wall-clock span the runs cover together; histograms add (``hdr.merge``). Seconds are aligned by
wall clock: each run's seconds are placed where they fell, to the nearest second of the earliest
start, and the seconds that fell together add up (each says how many engines it holds). Server
and generator gauges, read by several observers, keep the highest reading; the server's stalls
are listed once each; a verdict code is kept once, at its highest severity. Runs of one route
made one after another (a matrix, say) stay apart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from hdrh.histogram import HdrHistogram
from pydantic import BaseModel

from loadtui.engine import hdr
from loadtui.run import stats, streaming
from loadtui.run.rundoc import (
    SEVERITY_ORDER,
    GeneratorTotals,
    Histogram,
    LatencyMs,
    Load,
    MergedFrom,
    RateStage,
    RequestStats,
    RunDocument,
    StallWindow,
    Summary,
    TimelineEntry,
    Verdict,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


def merge_key(doc: RunDocument) -> tuple[Any, ...]:
    """Runs with equal keys are the same route, loaded the same way (closed or open loop)."""
    return (doc.target.route, doc.target.variant, doc.load.mode)


def _span(doc: RunDocument) -> tuple[float, float] | None:
    """When the run began and ended (epoch seconds); None if it never started."""
    start = doc.started_epoch
    if start is None:
        return None
    end = doc.finished_at.timestamp() if doc.finished_at else start + _duration(doc)
    return start, max(start, end)


def together(items: Sequence[T], doc: Callable[[T], RunDocument]) -> list[list[T]]:
    """``items`` (runs of one route) in groups made at the same time: each run of a group
    began before the others so far had all ended. Runs with no start time stay alone. Groups
    in the order of their first item."""
    timed = sorted(
        (span, position)
        for position, item in enumerate(items)
        if (span := _span(doc(item))) is not None
    )
    group_of: dict[int, int] = {}  # position -> the position of its group's earliest run
    leader, end = -1, float("-inf")
    for (start, finish), position in timed:
        if start > end:  # after every run so far had ended: a group of its own
            leader, end = position, finish
        else:
            end = max(end, finish)
        group_of[position] = leader
    groups: dict[int, list[T]] = {}
    for position, item in enumerate(items):
        groups.setdefault(group_of.get(position, -1 - position), []).append(item)
    return list(groups.values())


def highest_model(models: Sequence[M]) -> M:
    """Several observers' readings of one set of gauges: the highest of each."""
    dumped = [m.model_dump() for m in models]
    return type(models[0]).model_validate(stats.highest(dumped))


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


def _decoded(block: Histogram | None) -> HdrHistogram | None:
    return None if block is None else hdr.decode(block.data)


def _histograms(docs: Sequence[RunDocument]) -> dict[str, Histogram]:
    names = dict.fromkeys(name for doc in docs for name in doc.histograms)
    return {
        name: _histogram([d.histograms[name] for d in docs if name in d.histograms])
        for name in names
    }


def _duration(doc: RunDocument) -> float:
    return doc.summary.duration_s or doc.load.duration_s or 0.0


def _wall_duration(docs: Sequence[RunDocument]) -> float:
    """The wall-clock span the runs cover together (the longest run's, without start times)."""
    spans = [span for d in docs if (span := _span(d))]
    if len(spans) < len(docs):
        return max(_duration(d) for d in docs)
    return max(end for _, end in spans) - min(start for start, _ in spans)


def _summary(
    docs: Sequence[RunDocument], latency: Histogram, extra: dict[str, Histogram]
) -> Summary:
    unsent = [d.summary.unsent for d in docs if d.summary.unsent is not None]
    waiting = [d.summary for d in docs if d.summary.in_flight_at_end is not None]
    oldest = [s.oldest_in_flight_s for s in waiting if s.oldest_in_flight_s is not None]
    in_flight = (
        (sum(s.in_flight_at_end or 0 for s in waiting), max(oldest, default=None))
        if waiting
        else None
    )
    return stats.summary(
        sum(d.summary.requests for d in docs),
        _counts(d.summary.errors_by_kind for d in docs),
        _wall_duration(docs),
        _decoded(latency),
        _decoded(extra.get("uncorrected")),
        _decoded(extra.get("send_lag")),
        unsent=sum(unsent) if unsent else None,
        in_flight=in_flight,
        first_byte=_decoded(extra.get("first_byte")),
        first_byte_uncorrected=_decoded(extra.get("first_byte_uncorrected")),
        stream=streaming.merged([d.summary.stream for d in docs], _wall_duration(docs)),
        setup_pending=_sum_known(d.summary.users_not_through_setup for d in docs),
    )


def _sum_known(values: Iterable[int | None]) -> int | None:
    """The sum of the figures the runs have; None when none has it."""
    known = [value for value in values if value is not None]
    return sum(known) if known else None


def _timeline(docs: Sequence[RunDocument]) -> list[TimelineEntry]:
    """Each run's seconds placed by wall clock (the n-th second of a run that began 3 s after
    the earliest is merged second n + 3), those that fall together added up."""
    starts = [d.started_epoch for d in docs]
    origin = min((s for s in starts if s is not None), default=0.0)
    placed: dict[int, list[tuple[float, TimelineEntry]]] = {}
    for doc, start in zip(docs, starts, strict=True):
        offset = 0.0 if start is None else start - origin
        for position, entry in enumerate(doc.timeline, start=round(offset)):
            placed.setdefault(position, []).append((offset + entry.t, entry))
    return [
        stats.add_seconds([entry for _, entry in group]).model_copy(
            update={"t": round(max(end for end, _ in group), 3)}
        )
        for _, group in sorted(placed.items())
    ]


def _requests(docs: Sequence[RunDocument], duration: float) -> list[RequestStats]:
    """Each named request added up over the runs, by name."""
    by_name: dict[str, list[RequestStats]] = {}
    for doc in docs:
        for named in doc.requests:
            by_name.setdefault(named.name, []).append(named)
    merged = []
    for group in by_name.values():
        histogram = _histogram([s.histogram for s in group])
        first_bytes = [s.first_byte_histogram for s in group if s.first_byte_histogram]
        first_byte = _histogram(first_bytes) if first_bytes else None
        requests = sum(s.requests for s in group)
        merged.append(
            group[0].model_copy(
                update={
                    "requests": requests,
                    "errors": sum(s.errors for s in group),
                    "errors_by_kind": _counts(s.errors_by_kind for s in group),
                    "rps": stats.per_second(requests, duration),
                    "latency_ms": LatencyMs.of(hdr.summarize(hdr.decode(histogram.data))),
                    "histogram": histogram,
                    "first_byte_ms": streaming.latency_ms(_decoded(first_byte)),
                    "first_byte_histogram": first_byte,
                    "stream": streaming.merged([s.stream for s in group], duration),
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


def _generator(docs: Sequence[RunDocument]) -> GeneratorTotals:
    """The highest of each figure; every run's engines, numbered on."""
    engines = [engine for d in docs for engine in d.generator.engines]
    return highest_model([d.generator for d in docs]).model_copy(
        update={"engines": [e.model_copy(update={"engine": n}) for n, e in enumerate(engines, 1)]}
    )


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
            "stages": _stages(loads),
        }
    )


def _stages(loads: list[Load]) -> list[RateStage] | None:
    """The machines' ramps added up stage by stage; None unless every run ramped alike."""
    ramps = [load.stages or [] for load in loads]
    shape = [stage.duration_s for stage in ramps[0]]
    if not shape or any([stage.duration_s for stage in ramp] != shape for ramp in ramps):
        return None
    return [
        RateStage(
            start_rps=sum(ramp[i].start_rps for ramp in ramps),
            end_rps=sum(ramp[i].end_rps for ramp in ramps),
            duration_s=duration,
        )
        for i, duration in enumerate(shape)
    ]


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
            "requests": _requests(docs, _wall_duration(docs)),
            "timeline": _timeline(docs),
            "server": highest_model([d.server for d in docs]).model_copy(
                update={"stalls": _stalls(docs)}
            ),
            "generator": _generator(docs),
            "verdicts": _verdicts(docs),
            "merged_from": [
                MergedFrom(run_id=d.run_id, started_at=d.started_at, finished_at=d.finished_at)
                for d in docs
            ],
            "gate": None,  # each part was judged on its own figures, not on the merged ones
        }
    )
