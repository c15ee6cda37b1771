"""One step's run, judged for the search: did it hold every SLO, and if not, why not.

The order matters: a generator that could not drive the rate says nothing of the app (its
step is inconclusive); then errors (1 % or more, always), then a server that did not keep up
(it answered noticeably fewer than were due, or requests were left unsent for want of a free
connection), then the SLOs themselves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from loadtui.capacity.search import Reason, StepOutcome
from loadtui.run import gate
from loadtui.run.rundoc import RunDocument, Threshold, TimelineEntry

MAX_ERROR_SHARE = 0.01  # errors < 1 %, always
KEPT_UP_SHARE = 0.97  # answered at least this share of what was due in the measured seconds ...
KEPT_UP_SLACK = 1.5  # ... less this many requests (a window's edges cut a request or so)
UNSENT_SHARE = 0.01  # requests left unsent at the end, as a share of those due
WARMUP_S = 1.0  # the first second lacks the answers still in flight: not a measure of pace


def warmup_s(doc: RunDocument) -> float:
    """The seconds before the answers keep pace with the sends: one, or as many whole seconds
    as the median answer takes (a slow route's first answers come later)."""
    p50_ms = doc.summary.latency_ms.p50 or 0.0
    return max(WARMUP_S, float(math.ceil(p50_ms / 1000.0)))


def measured(doc: RunDocument) -> tuple[int, float]:
    """The answers and the seconds once the first answers are in (the whole run if that leaves
    nothing)."""
    start = warmup_s(doc) - 0.05
    later = [e for e in doc.timeline if e.t - _length(e) >= start and _length(e) >= 0.5]
    entries = later or doc.timeline
    return sum(e.requests for e in entries), sum(_length(e) for e in entries)


def achieved(doc: RunDocument) -> float:
    """Answers a second, once the first answers are in."""
    answers, seconds = measured(doc)
    return answers / seconds if seconds else doc.summary.rps


def _length(entry: TimelineEntry) -> float:
    return entry.seconds if entry.seconds is not None else 1.0


def error_share(doc: RunDocument) -> float:
    summary = doc.summary
    return summary.errors / summary.requests if summary.requests else 1.0


def kept_up(doc: RunDocument, rate: float) -> bool:
    due = rate * (doc.summary.duration_s or 0.0)
    unsent = doc.summary.unsent or 0
    if unsent > UNSENT_SHARE * due + 1:
        return False
    answers, seconds = measured(doc)
    return answers >= rate * seconds * KEPT_UP_SHARE - KEPT_UP_SLACK


def reason(doc: RunDocument, rate: float, slos: Sequence[Threshold]) -> Reason | None:
    if doc.generator.saturated:
        return "generator"
    if error_share(doc) >= MAX_ERROR_SHARE:
        return "errors"
    if not kept_up(doc, rate):
        return "server"
    if not all(gate.outcome(doc, slo).passed for slo in slos):
        return "slo"
    return None


def outcome(doc: RunDocument, rate: float, slos: Sequence[Threshold]) -> StepOutcome:
    """The step's outcome, with the codes of its critical and warning verdicts."""
    codes = tuple(v.code for v in doc.verdicts if v.severity != "info")
    return StepOutcome(reason(doc, rate, slos), tuple(dict.fromkeys(codes)))
