"""The capacity document (``loadtui.capacity/1``): one search's result, defined once.

``loadtui capacity --json FILE`` writes it; the JSON Schema shipped in
``loadtui/capacity/schema/capacity.schema.json`` is generated from these models
(``python -m loadtui.capacity.capdoc``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from loadtui.capacity.search import LimitedBy, Phase, Reason
from loadtui.run import schemas
from loadtui.run.rundoc import Count, NonNegative, Positive, Threshold, Time, Verdict

SCHEMA_ID = "loadtui.capacity/1"
SCHEMA_PATH = Path(__file__).with_name("schema") / "capacity.schema.json"

StepResult = Literal["held", Reason]


class Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class SearchBounds(Part):
    min_rps: Positive
    max_rps: Positive
    ramp_step_s: Positive
    step_s: Positive
    resolution: Positive  # bisection stops when the break is within this share of the held rate


class CapacityStep(Part):
    """One step: a run at one intended rate, and what it showed."""

    number: Count
    phase: Phase
    rate_rps: Positive  # intended
    seconds: Positive
    achieved_rps: NonNegative  # answers a second once the first were in
    requests: Count
    errors: Count
    p50_ms: NonNegative | None = None
    p90_ms: NonNegative | None = None
    p99_ms: NonNegative | None = None
    max_ms: NonNegative | None = None
    result: StepResult
    verdicts: list[str] = Field(default_factory=list)  # the codes of its warnings and worse
    run_file: str | None = None  # its run file's name, in the search's directory


class CapacityDocument(Part):
    schema_id: Literal["loadtui.capacity/1"] = Field(SCHEMA_ID, alias="schema")
    tool_version: str
    started_at: Time
    finished_at: Time
    target: str  # the URL loaded
    route: str  # the path, or the scenario's name
    slos: list[Threshold]  # errors < 1 % is always one more
    bounds: SearchBounds
    held_rps: Positive | None  # the highest rate that held every SLO; None: not even the least
    broke_at_rps: Positive | None  # the lowest rate the app broke at; None: nothing broke
    limited_by: LimitedBy | None  # None: interrupted or failed before anything limited it
    verdicts: list[str]  # the codes at the break (at the generator's ceiling if that)
    explanation: list[Verdict] = Field(default_factory=list)  # those verdicts in full
    steps: list[CapacityStep]
    interrupted: bool = False
    failure: str | None = None  # a step could not be carried out: the search ended there
    run_dir: str | None = None  # where the step run files and the HTML page are

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=1) + "\n"


def json_schema() -> dict[str, Any]:
    return schemas.json_schema(
        CapacityDocument,
        "capacity-1",
        f"loadtui capacity result ({SCHEMA_ID})",
        "One capacity search. Generated from loadtui.capacity.capdoc.",
    )


def schema_text() -> str:
    return schemas.text(json_schema())


if __name__ == "__main__":  # regenerate the shipped schema: python -m loadtui.capacity.capdoc
    schemas.write(SCHEMA_PATH, json_schema())
