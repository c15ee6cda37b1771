"""The capacity document, its shipped schema, its text and its HTML page, from a document
built by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from loadtui.capacity import page, text
from loadtui.capacity.capdoc import (
    SCHEMA_PATH,
    CapacityDocument,
    CapacityStep,
    SearchBounds,
    schema_text,
)
from loadtui.capacity.slo import parse_slo
from loadtui.run.rundoc import Verdict


def step(number: int, rate: float, result: str = "held", p99: float = 210.0) -> CapacityStep:
    return CapacityStep(
        number=number, phase="steady", rate_rps=rate, seconds=5, achieved_rps=min(rate, 50),
        requests=int(5 * rate), errors=0, p50_ms=200, p90_ms=205, p99_ms=p99, max_ms=p99,
        result=result, verdicts=[] if result == "held" else ["threadpool_saturated"],
        run_file=f"step-{number:02d}-steady-{rate:g}rps.json",
    )  # fmt: skip


def document(**changes: object) -> CapacityDocument:
    now = datetime.now(UTC)
    fields: dict[str, object] = dict(
        tool_version="0", started_at=now, finished_at=now, target="http://127.0.0.1:8000",
        route="/<b>slow</b>", slos=[parse_slo("p99<1s")],
        bounds=SearchBounds(min_rps=10, max_rps=200, ramp_step_s=2, step_s=5, resolution=0.05),
        held_rps=50, broke_at_rps=52.5, limited_by="server", verdicts=["threadpool_saturated"],
        explanation=[
            Verdict(code="threadpool_saturated", severity="critical", message="<i>full</i>")
        ],
        steps=[step(1, 40), step(2, 60, "server", 900), step(3, 50), step(4, 52.5, "server")],
    )  # fmt: skip
    return CapacityDocument(**(fields | changes))


def test_the_shipped_schema_is_the_models() -> None:
    assert SCHEMA_PATH.read_text() == schema_text(), "run `python -m loadtui.capacity.capdoc`"


def test_the_document_round_trips_and_refuses_what_it_cannot_be() -> None:
    doc = document()
    assert CapacityDocument.model_validate_json(doc.to_json()) == doc
    assert '"schema": "loadtui.capacity/1"' in doc.to_json()
    with pytest.raises(ValidationError):
        document(limited_by="luck")
    with pytest.raises(ValidationError):
        document(held_rps=float("nan"))


def test_the_text_says_held_broke_why_and_each_step() -> None:
    shown = text.render(document())
    assert "held:       50.0 req/s" in shown and "broke at:   52.5 req/s" in shown
    assert "limited by: server" in shown and "threadpool_saturated [critical]" in shown
    assert shown.count(" steady ") == 4 and "server (threadpool_saturated)" in shown
    nothing = text.render(document(held_rps=None, broke_at_rps=10, steps=[step(1, 10, "slo")]))
    assert "not even --min-rate held" in nothing


def test_the_page_draws_the_curve_with_the_knee_and_nothing_from_elsewhere() -> None:
    html = page.render(document())
    assert html.count("<svg") == 2 and "<script" not in html
    assert "<b>slow</b>" not in html and "&lt;b&gt;slow" in html  # a target's text is text
    assert "<i>full</i>" not in html
    assert html.count('<rect class="band"') == 2  # the knee, on both charts
    assert "SLO p99&lt;1s" in html
