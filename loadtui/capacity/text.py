"""A capacity search as text: the steps' table, then the result and the verdicts that explain
the break."""

from __future__ import annotations

from loadtui.capacity.capdoc import CapacityDocument, CapacityStep
from loadtui.formats import ms
from loadtui.report.tables import text_table, wrap
from loadtui.safe_text import shown

COLUMNS = ("step", "phase", "req/s", "achieved", "p50 ms", "p99 ms", "max ms", "errors", "result")
LIMITS = {
    "slo": "an SLO broke",
    "errors": "errors reached 1 %",
    "server": "the server stopped keeping up (it answered fewer than were due, or requests "
    "waited unsent for a free connection: all --users were taken)",
    "generator": "the load generator saturated before the app broke: the app's capacity is "
    "above what loadtui could drive here (more --engines, or a machine of its own)",
    "max_rate": "nothing broke up to --max-rate",
}


def limit(doc: CapacityDocument) -> str:
    if doc.limited_by is None:
        why = "interrupted" if doc.interrupted else "a step could not be done"
        return f"- (the search ended early: {why})"
    return f"{doc.limited_by}: {LIMITS[doc.limited_by]}"


def rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def step_row(step: CapacityStep) -> list[str]:
    verdicts = f" ({', '.join(step.verdicts)})" if step.verdicts and step.result != "held" else ""
    return [
        str(step.number),
        step.phase,
        rate(step.rate_rps),
        rate(step.achieved_rps),
        ms(step.p50_ms),
        ms(step.p99_ms),
        ms(step.max_ms),
        f"{step.errors:,}",
        step.result + verdicts,
    ]


def render(doc: CapacityDocument) -> str:
    slos = ", ".join([*(slo.text for slo in doc.slos), "errors<1%"])
    lines = [
        shown(f"capacity of {doc.route} at {doc.target} within {slos}"),
        "",
        text_table(COLUMNS, [step_row(step) for step in doc.steps], text=("phase", "result"))
        if doc.steps
        else "no step was done",
        "",
        f"held:       {rate(doc.held_rps)} req/s"
        + (" (not even --min-rate held)" if doc.held_rps is None and doc.limited_by else ""),
        f"broke at:   {rate(doc.broke_at_rps)} req/s",
        f"limited by: {limit(doc)}",
    ]
    if doc.explanation:
        lines.append("at the break:")
        lines += [
            wrap(shown(f"{v.code} [{v.severity}]: {v.message}"), indent=2) for v in doc.explanation
        ]
    return "\n".join(lines)
