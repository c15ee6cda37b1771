"""The run model, with its verdicts, as a run document: the one way from one to the other."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from loadtui import __version__
from loadtui.run.environment import environment
from loadtui.run.model import RunModel
from loadtui.run.rundoc import (
    SCHEMA_ID,
    Environment,
    Histogram,
    Load,
    RateStage,
    RunDocument,
    TargetInfo,
    Tool,
    Verdict,
)
from loadtui.run.verdicts import compute as judge


def _moment(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch is not None else None


def build(model: RunModel, verdicts: Sequence[Verdict] | None = None) -> RunDocument:
    """The document of ``model`` as it stands, with ``verdicts`` (by default, the model's own:
    ``loadtui.run.verdicts.compute``)."""
    if verdicts is None:
        verdicts = judge(model)
    plan, target = model.plan, model.target
    histograms = model.encoded_histograms()
    return RunDocument(
        schema=SCHEMA_ID,
        run_id=model.run_id,
        tool=Tool(version=__version__),
        started_at=_moment(model.started_epoch),
        finished_at=_moment(model.finished_epoch),
        state=model.state,
        interrupted=model.state == "interrupted",
        end_reason=model.end_reason,
        failure=model.failure,
        environment=Environment.model_validate(environment()),
        target=TargetInfo(
            url=target.url,
            route=target.route,
            spawned=target.spawned,
            metrics_url=target.metrics_url,
            pid=target.pid,
            variant=model.variant_key,
            pattern=model.variant_pattern,
        ),
        load=Load(
            mode=plan.mode,
            users=plan.users,
            spawn_rate=plan.spawn_rate,
            duration_s=plan.duration_s,
            think_s=plan.think_s,
            rate=plan.rate,
            timeout_s=plan.timeout_s,
            stages=[
                RateStage(start_rps=s.start_rps, end_rps=s.end_rps, duration_s=s.duration_s)
                for s in plan.stages
            ]
            or None,
        ),
        summary=model.summary(),
        histogram=Histogram(data=histograms.pop("latency")),
        histograms={name: Histogram(data=data) for name, data in histograms.items()},
        requests=model.request_stats(),
        timeline=model.timeline(),
        server=model.server_totals(),
        generator=model.generator_totals(),
        verdicts=list(verdicts),
    )
