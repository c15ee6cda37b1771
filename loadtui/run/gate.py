"""The gate: ``--threshold`` and ``--fail-on``, parsed here once for ``run``, ``matrix`` and the
pytest plugin, and judged from a run document's own figures (nothing is recomputed).

A threshold is ``[NAME.]FIGURE COMPARISON LIMIT``: ``p99<300ms``, ``p50<=0.2s``, ``max<800us``,
``rps>150``, ``errors<1%``, ``errors==0``, ``stalls==0``, the time to the first byte
(``ttfb_p99<300ms``) and the gaps within streams (``gap_p99<100ms``); ``NAME.`` picks a named
request's figures (``orders.p99<500ms``) among the names the run has. ``--fail-on`` takes
verdict codes and the severities ``critical`` and ``warning`` (that severity or worse).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal

from loadtui.run.rundoc import (
    SEVERITY_ORDER,
    Comparison,
    Gate,
    LatencyMs,
    RequestStats,
    RunDocument,
    Summary,
    Threshold,
    ThresholdMetric,
    ThresholdOutcome,
    ThresholdUnit,
    Verdict,
)
from loadtui.safe_text import shown

LATENCY: tuple[ThresholdMetric, ...] = ("p50", "p90", "p99", "p999", "mean", "max")
FIRST_BYTE: tuple[ThresholdMetric, ...] = (
    "ttfb_p50",
    "ttfb_p90",
    "ttfb_p99",
    "ttfb_mean",
    "ttfb_max",
)
GAP: tuple[ThresholdMetric, ...] = ("gap_p50", "gap_p90", "gap_p99", "gap_max")
TIMES = (*LATENCY, *FIRST_BYTE, *GAP)  # figures in ms
METRICS: tuple[ThresholdMetric, ...] = (*TIMES, "rps", "errors", "stalls")
COMPARE: dict[Comparison, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}
TO_MS = {"ms": Decimal(1), "s": Decimal(1000), "us": Decimal("0.001")}
SEVERITIES = ("critical", "warning")
NONE = {"gap": " (no stream seen)", "ttfb": " (no response began)"}  # why a figure is missing
LARGEST = Decimal("1e300")  # the run document's bound on any number

_COMPARISON = re.compile(r"(<=|>=|==|<|>)")
_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")


class ThresholdError(ValueError):
    """A threshold or --fail-on value that cannot be used; the message is one line."""

    def __init__(self, message: str) -> None:
        super().__init__(shown(message))


# ---- parsing -----------------------------------------------------------------------------------
def parse_threshold(text: str, names: Collection[str] = ()) -> Threshold:
    """One threshold; ``names`` are the request names the run has (none without a scenario)."""
    parts = _COMPARISON.split(text.strip(), maxsplit=1)
    if len(parts) != 3:
        raise ThresholdError(f"'{text}': no comparison (use <, <=, >, >= or ==)")
    left, comparison, right = (part.strip() for part in parts)
    request, dot, metric = left.rpartition(".")
    if metric not in METRICS:
        raise ThresholdError(f"'{text}': unknown figure '{metric}' ({', '.join(METRICS)})")
    if dot:
        _check_request(text, request, metric, names)
    limit, unit = _limit(text, metric, right)
    return Threshold(
        text=text.strip(),
        request=request if dot else None,
        metric=metric,
        comparison=comparison,
        limit=limit,
        unit=unit,
    )


def _check_request(text: str, request: str, metric: str, names: Collection[str]) -> None:
    if metric == "stalls":
        raise ThresholdError(f"'{text}': stalls are the server's, not one request's")
    if request not in names:
        known = f"known: {', '.join(sorted(names))}" if names else "this run has no named requests"
        raise ThresholdError(f"'{text}': unknown request name '{request}' ({known})")


def _limit(text: str, metric: str, right: str) -> tuple[float, ThresholdUnit]:
    number = _NUMBER.match(right)
    if number is None:
        raise ThresholdError(f"'{text}': '{right}' is not a number")
    value, unit = Decimal(number.group()), right[number.end() :].strip()
    if metric in TIMES:
        if unit not in TO_MS:
            what = f"unknown unit '{unit}'" if unit else "no unit"
            raise ThresholdError(f"'{text}': {what} (give ms, s or us)")
        return _bounded(text, value * TO_MS[unit]), "ms"
    if metric == "errors" and unit == "%":
        if value > 100:
            raise ThresholdError(f"'{text}': a percentage is at most 100")
        return float(value), "%"
    if unit:
        expected = "a percentage or a count" if metric == "errors" else "a plain number"
        raise ThresholdError(f"'{text}': unknown unit '{unit}' ({metric} takes {expected})")
    if metric == "rps":
        return _bounded(text, value), "req/s"
    if value != value.to_integral_value():
        raise ThresholdError(f"'{text}': {metric} is a count: give a whole number")
    return _bounded(text, value), "requests" if metric == "errors" else "stalls"


def _bounded(text: str, value: Decimal) -> float:
    if value > LARGEST:
        raise ThresholdError(f"'{text}': the limit is too large")
    return float(value)


def parse_fail_on(values: Sequence[str]) -> tuple[str, ...]:
    """Verdict codes and severities, from ``--fail-on a,b`` (as often as given)."""
    from loadtui.run.verdicts import CODES

    found = [part.strip() for value in values for part in value.split(",") if part.strip()]
    for entry in found:
        if entry not in CODES and entry not in SEVERITIES:
            raise ThresholdError(
                f"unknown verdict code or severity '{entry}' (critical, warning, or one of "
                f"{', '.join(sorted(CODES))})"
            )
    if values and not found:
        raise ThresholdError("give verdict codes or a severity (critical, warning)")
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class GateSpec:
    """What a run is judged by; empty: by nothing."""

    thresholds: tuple[Threshold, ...] = ()
    fail_on: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.thresholds or self.fail_on)


NO_GATE = GateSpec()


# ---- judging -----------------------------------------------------------------------------------
def _summary(doc: RunDocument, request: str | None) -> Summary | RequestStats | None:
    """The figures a threshold reads: the whole run's, or a named request's (None when the
    document holds no figures for that name)."""
    if request is None:
        return doc.summary
    return next((stats for stats in doc.requests if stats.name == request), None)


def observed(doc: RunDocument, threshold: Threshold) -> float | None:
    """The run's figure that ``threshold`` judges, in its unit; None when it has none."""
    if threshold.metric == "stalls":
        return float(len(doc.server.blocking_stalls))
    summary = _summary(doc, threshold.request)
    if summary is None:
        return None
    if threshold.metric in TIMES:
        return _time_ms(summary, threshold.metric)
    if threshold.metric == "rps":
        return summary.rps
    if threshold.unit == "%":
        return summary.errors * 100 / summary.requests if summary.requests else None
    return float(summary.errors)


def _time_ms(summary: Summary | RequestStats, metric: str) -> float | None:
    """A latency figure, a first byte's (``ttfb_p99``) or a stream gap's (``gap_p99``); None
    when the run has none (no stream seen, a file from before first bytes were recorded)."""
    figures: LatencyMs | None = summary.latency_ms
    kind, _, name = metric.rpartition("_")
    if kind == "ttfb":
        figures = summary.first_byte_ms
    elif kind == "gap":
        figures = summary.stream.gap_ms if summary.stream is not None else None
    return getattr(figures, name) if figures is not None else None


def outcome(doc: RunDocument, threshold: Threshold) -> ThresholdOutcome:
    value = observed(doc, threshold)
    passed = value is not None and COMPARE[threshold.comparison](value, threshold.limit)
    return ThresholdOutcome(threshold=threshold, observed=value, passed=passed)


def _matches(verdict: Verdict, entry: str) -> bool:
    """Whether a --fail-on entry names this verdict: its code, or a severity it reaches."""
    if entry in SEVERITIES:
        return SEVERITY_ORDER[verdict.severity] <= SEVERITY_ORDER[entry]
    return verdict.code == entry


def matched(doc: RunDocument, fail_on: Sequence[str]) -> list[str]:
    """The codes of the run's verdicts that ``fail_on`` names."""
    return list(dict.fromkeys(v.code for v in doc.verdicts if any(_matches(v, e) for e in fail_on)))


def judge(doc: RunDocument, spec: GateSpec) -> Gate:
    outcomes = [outcome(doc, threshold) for threshold in spec.thresholds]
    codes = matched(doc, spec.fail_on)
    passed = not codes and all(o.passed for o in outcomes)
    return Gate(thresholds=outcomes, fail_on=list(spec.fail_on), matched=codes, passed=passed)


def apply(doc: RunDocument, spec: GateSpec) -> RunDocument:
    """``doc`` with its gate recorded; unchanged when ``spec`` judges by nothing."""
    return doc.model_copy(update={"gate": judge(doc, spec)}) if spec else doc


# ---- saying so ---------------------------------------------------------------------------------
def figure(threshold: Threshold, value: float | None) -> str:
    """The observed figure, in the threshold's unit: "412.3 ms", "2.5%", "3"; "none"."""
    if value is None:
        return "none"
    if threshold.unit in ("requests", "stalls"):
        return f"{value:.0f}"
    if threshold.unit == "%":
        return f"{value:.6g}%"
    return f"{value:.6g} {threshold.unit}"


def describe(result: ThresholdOutcome) -> str:
    """One line: the threshold, passed or breached, and what the run had."""
    threshold = result.threshold
    name = f"{threshold.request}.{threshold.metric}" if threshold.request else threshold.metric
    had = f"{name} {figure(threshold, result.observed)}"
    if result.observed is None:
        had += (
            f" (no figures for {threshold.request})"
            if threshold.request
            else NONE.get(threshold.metric.partition("_")[0], " (no requests)")
        )
    return shown(f"{threshold.text} {'passed' if result.passed else 'breached'}: {had}")


def breaches(doc: RunDocument) -> list[str]:
    """One line per breached threshold and per verdict that --fail-on matched."""
    gate = doc.gate
    if gate is None:
        return []
    lines = [describe(result) for result in gate.thresholds if not result.passed]
    for verdict in doc.verdicts:
        by = [entry for entry in gate.fail_on if _matches(verdict, entry)]
        if verdict.code in gate.matched and by:
            lines.append(
                shown(
                    f"verdict {verdict.code} [{verdict.severity}] matched --fail-on "
                    f"{','.join(by)}: {verdict.message}"
                )
            )
    return lines
