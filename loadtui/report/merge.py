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

from loadtui import hdr
from loadtui.runfile import epoch
from loadtui.verdicts import SEVERITY_ORDER

Document = dict[str, Any]
T = TypeVar("T")
ADDITIVE = ("requests", "errors", "rps", "users", "in_flight", "unsent")
EXTRA_SUMMARIES = {"uncorrected": "latency_uncorrected_ms", "send_lag": "send_lag_ms"}


def merge_key(doc: Document) -> tuple[Any, ...]:
    """Runs with equal keys are the same route at the same load."""
    target, load = doc["target"], doc["load"]
    return (target["route"], target.get("variant"), load["mode"], load["users"], load["rate"])


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


def _block(blocks: Sequence[Document]) -> Document:
    """Histogram blocks (encoding, unit, data, ...) added into one."""
    return {**blocks[0], "data": hdr.encode(_added(b["data"] for b in blocks))}


def _histograms(docs: Sequence[Document]) -> dict[str, Document]:
    names = dict.fromkeys(name for doc in docs for name in doc.get("histograms", {}))
    return {
        name: _block([d["histograms"][name] for d in docs if name in d.get("histograms", {})])
        for name in names
    }


def _duration(doc: Document) -> float:
    return doc["summary"].get("duration_s") or doc["load"]["duration_s"] or 0.0


def _summary(docs: Sequence[Document], latency: Document, extra: dict[str, Document]) -> Document:
    requests = sum(d["summary"]["requests"] for d in docs)
    duration = max(_duration(d) for d in docs)
    summary = {
        "requests": requests,
        "errors": sum(d["summary"]["errors"] for d in docs),
        "errors_by_kind": _counts(d["summary"].get("errors_by_kind", {}) for d in docs),
        "duration_s": duration,
        "rps": round(requests / duration, 3)
        if duration
        else sum(d["summary"]["rps"] for d in docs),
        "latency_ms": hdr.summarize(hdr.decode(latency["data"])).as_dict(),
    }
    for name, key in EXTRA_SUMMARIES.items():
        if name in extra:
            summary[key] = hdr.summarize(hdr.decode(extra[name]["data"])).as_dict()
    unsent = [d["summary"]["unsent"] for d in docs if "unsent" in d["summary"]]
    if unsent:
        summary["unsent"] = sum(unsent)
    return summary


def _interval(entries: Sequence[Document]) -> Document:
    merged = highest(entries)
    for key in ADDITIVE:
        values = [e[key] for e in entries if e.get(key) is not None]
        if values:
            merged[key] = round(sum(values), 3)
    if "errors_by_kind" in merged:
        merged["errors_by_kind"] = _counts(e.get("errors_by_kind") or {} for e in entries)
    encoded = [e["hdr"] for e in entries if "hdr" in e]
    if encoded:
        histogram = _added(encoded)
        latency = hdr.summarize(histogram)
        merged["hdr"] = hdr.encode(histogram)
        merged.update(
            p50_ms=latency.p50, p90_ms=latency.p90, p99_ms=latency.p99, max_ms=latency.max
        )
    return merged


def _timeline(docs: Sequence[Document]) -> list[Document]:
    length = max(len(d["timeline"]) for d in docs)
    return [
        _interval([d["timeline"][i] for d in docs if i < len(d["timeline"])]) for i in range(length)
    ]


def _server(docs: Sequence[Document]) -> Document:
    merged = highest([d["server"] for d in docs])
    merged["stalls"] = sorted(
        _strongest(
            (stall for d in docs for stall in d["server"]["stalls"]),
            key=lambda s: (s["started_at"], s["culprit"]),
            rank=lambda s: s["duration_s"],
        ),
        key=lambda s: s["started_at"],
    )
    return merged


def _verdicts(docs: Sequence[Document]) -> list[Document]:
    kept = _strongest(
        (v for d in docs for v in d["verdicts"]),
        key=lambda v: v["code"],
        rank=lambda v: -SEVERITY_ORDER[v["severity"]],
    )
    return sorted(kept, key=lambda v: SEVERITY_ORDER[v["severity"]])


def _load(docs: Sequence[Document]) -> Document:
    loads = [d["load"] for d in docs]
    rate = loads[0]["rate"]
    return {
        **loads[0],
        "users": sum(load["users"] for load in loads),
        "spawn_rate": sum(load["spawn_rate"] for load in loads),
        "rate": None if rate is None else sum(load["rate"] for load in loads),
        "duration_s": highest([load["duration_s"] for load in loads]),
    }


def _times(docs: Sequence[Document]) -> Document:
    started = [d["started_at"] for d in docs if epoch(d["started_at"]) is not None]
    finished = [d["finished_at"] for d in docs if epoch(d["finished_at"]) is not None]
    states = [d.get("state", "finished") for d in docs]
    return {
        "started_at": min(started, key=epoch, default=None),
        "finished_at": max(finished, key=epoch, default=None),
        "state": next((s for s in states if s != "finished"), "finished"),
        "interrupted": any(d.get("interrupted") for d in docs),
    }


def merge_documents(docs: Sequence[Document]) -> Document:
    """One run document holding all of ``docs`` (same route and load, see the module's rule)."""
    latency, extra = _block([d["histogram"] for d in docs]), _histograms(docs)
    return {
        **docs[0],
        **_times(docs),
        "run_id": "+".join(str(d.get("run_id", "?")) for d in docs),
        "load": _load(docs),
        "summary": _summary(docs, latency, extra),
        "histogram": latency,
        "histograms": extra,
        "timeline": _timeline(docs),
        "server": _server(docs),
        "generator": highest([d["generator"] for d in docs]),
        "verdicts": _verdicts(docs),
        "merged_from": [
            {key: d.get(key) for key in ("run_id", "started_at", "finished_at")} for d in docs
        ],
    }
