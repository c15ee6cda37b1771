"""The run file (``loadtui.run/1``): build it from the run model, write it atomically, load and
validate it. The JSON Schema ships in ``loadtui/schema/run.schema.json``."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from loadtui import __version__, hdr
from loadtui.atomic import write_text_atomic
from loadtui.environment import environment
from loadtui.model import RunModel, iso
from loadtui.verdicts import Verdict, run_stalls

SCHEMA_ID = "loadtui.run/1"
SCHEMA_VERSION = 1


class RunFileError(ValueError):
    """A run file that cannot be read; the message names the file, on one line."""

    def __init__(self, message: str) -> None:
        # keys and values quoted from a hostile file may hold line breaks or escapes
        super().__init__(re.sub(r"[\x00-\x1f\x7f]+", " ", message))


def _histogram(data: str) -> dict[str, Any]:
    return {
        "encoding": "hdrhistogram-base64",
        "unit": "us",
        "lowest": hdr.LOWEST_US,
        "highest": hdr.HIGHEST_US,
        "significant_figures": hdr.SIGNIFICANT_FIGURES,
        "data": data,
    }


def _timeline(model: RunModel) -> list[dict[str, Any]]:
    return [
        {
            "t": entry.client.t,
            "seconds": round(entry.client.seconds, 3),
            "requests": entry.client.requests,
            "errors": entry.client.errors,
            "errors_by_kind": entry.client.errors_by_kind,
            "rps": entry.client.rps,
            "p50_ms": entry.client.latency.p50,
            "p90_ms": entry.client.latency.p90,
            "p99_ms": entry.client.latency.p99,
            "max_ms": entry.client.latency.max,
            "users": entry.client.users,
            "in_flight": entry.client.in_flight,
            "unsent": entry.client.unsent,
            "generator": {
                "cpu_percent": entry.client.engine_cpu_percent,
                "loop_lag_ms": entry.client.engine_lag_ms,
                "rss_bytes": entry.client.engine_rss_bytes,
                "open_fds": entry.client.engine_open_fds,
                "tasks": entry.client.engine_tasks,
            },
            "server": entry.server.as_dict(),
            "hdr": entry.client.hdr,
        }
        for entry in model.timeline()
    ]


def _server(model: RunModel) -> dict[str, Any]:
    samples = model.samples()
    drain = model.drain_samples()

    def pending(sample: Any) -> int | None:
        return (
            sum(sample.background_pending.values())
            if sample.background_pending is not None
            else None
        )

    def peak(name: str) -> Any:
        values = [v for s in samples if (v := getattr(s, name)) is not None]
        return max(values) if values else None

    ends = [pending(s) for s in samples if s.background_pending is not None]
    after = [pending(s) for _, s in drain if s.background_pending is not None]
    cpu = [s.cpu_percent for s in samples if s.cpu_percent is not None]
    t0 = model.t0_mono or 0.0
    return {
        "stalls": [
            {
                "started_at": stall.started_at,
                "duration_s": stall.duration_s,
                "culprit": stall.culprit,
                "location": stall.location,
                "ongoing": stall.ongoing,
            }
            for stall in run_stalls(model)
        ],
        "background_tasks_pending_end": ends[-1] if ends else None,
        "background_tasks_pending_end_by_kind": next(
            (s.background_pending for s in reversed(samples) if s.background_pending is not None),
            None,
        ),
        "background_tasks_pending_after_drain": (
            after[-1] if model.drain_s is not None and after else None
        ),
        "drain_s": model.drain_s,
        "drain": [
            {"t": round(mono - t0, 3), "pending": pending(s)}
            for mono, s in drain
            if s.background_pending is not None
        ],
        "threadpool_capacity": peak("threadpool_capacity"),
        "threadpool_busy_max": peak("threadpool_busy"),
        "threadpool_waiting_max": peak("threadpool_waiting"),
        "requests_in_flight_max": peak("requests_in_flight"),
        "cpu_percent_mean": round(sum(cpu) / len(cpu), 2) if cpu else None,
        "rss_bytes_max": peak("rss_bytes"),
        "loop_lag_s_max": peak("loop_lag_s"),
        "signals": {"available": model.signals_available, "missing": model.signals_missing},
    }


def _generator(model: RunModel) -> dict[str, Any]:
    intervals = model.intervals()
    cpu = [i.engine_cpu_percent for i in intervals]
    return {
        "cpu_percent_mean": round(sum(cpu) / len(cpu), 2) if cpu else None,
        "loop_lag_ms_max": max((i.engine_lag_ms for i in intervals), default=None),
        "saturated": model.generator_saturated(),
        "rss_bytes_max": max((i.engine_rss_bytes for i in intervals), default=None),
        "saturated_seconds": model.generator_saturated_seconds(),
    }


def _summary(model: RunModel) -> dict[str, Any]:
    s = model.summary()
    found: dict[str, Any] = {
        "requests": s.requests,
        "errors": s.errors,
        "errors_by_kind": s.errors_by_kind,
        "duration_s": s.duration_s,
        "rps": s.rps,
        "rps_to_last_response": s.rps_to_last_response,
        "latency_ms": s.latency.as_dict(),
    }
    if s.latency_uncorrected is not None:
        found["latency_uncorrected_ms"] = s.latency_uncorrected.as_dict()
    if s.send_lag is not None:
        found["send_lag_ms"] = s.send_lag.as_dict()
    if model.plan.mode == "open":
        found["unsent"] = s.unsent
    return found


def build_document(model: RunModel, verdicts: list[Verdict]) -> dict[str, Any]:
    plan, target = model.plan, model.target
    histograms = model.encoded_histograms()
    return {
        "schema": SCHEMA_ID,
        "run_id": model.run_id,
        "tool": {"name": "loadtui", "version": __version__},
        "started_at": iso(model.started_epoch) if model.started_epoch else None,
        "finished_at": iso(model.finished_epoch) if model.finished_epoch else None,
        "state": model.state,
        "interrupted": model.state == "interrupted",
        "end_reason": model.end_reason,
        "failure": model.failure,
        "environment": environment(),
        "target": {
            "url": target.url,
            "route": target.route,
            "spawned": target.spawned,
            "metrics_url": target.metrics_url,
            "pid": target.pid,
            "variant": model.variant_key,
            "pattern": model.variant_pattern,
        },
        "load": {
            "mode": plan.mode,
            "users": plan.users,
            "spawn_rate": plan.spawn_rate,
            "duration_s": plan.duration_s,
            "think_s": list(plan.think_s),
            "rate": plan.rate,
            "timeout_s": plan.timeout_s,
        },
        "summary": _summary(model),
        "histogram": _histogram(histograms["latency"]),
        "histograms": {
            name: _histogram(data) for name, data in histograms.items() if name != "latency"
        },
        "timeline": _timeline(model),
        "server": _server(model),
        "generator": _generator(model),
        "verdicts": [v.as_dict() for v in verdicts],
    }


# ---- writing -------------------------------------------------------------------------------
def stamp() -> str:
    """The name of a ``runs/<stamp>/`` directory: local time, sortable."""
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def check_writable(path: Path) -> None:
    """Raise OSError now if ``path`` cannot be written later (directory made if missing)."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise IsADirectoryError(21, "is a directory", str(path))
    fd, probe = tempfile.mkstemp(dir=directory, prefix=".loadtui-check-")
    try:
        os.write(fd, b"x" * 65536)  # a full disk shows up here, before the run
    finally:
        os.close(fd)
        os.unlink(probe)


def write_json_atomic(path: Path, document: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(document, indent=1, allow_nan=False) + "\n")


# ---- reading -------------------------------------------------------------------------------
def epoch(timestamp: str | None) -> float | None:
    """Seconds since the epoch of an ISO 8601 time in a run file; None if absent or unreadable."""
    try:
        return datetime.fromisoformat(timestamp).timestamp() if timestamp else None
    except (ValueError, OverflowError, OSError):
        return None


@cache
def schema() -> dict[str, Any]:
    text = resources.files("loadtui").joinpath("schema/run.schema.json").read_text("utf-8")
    return json.loads(text)


def validate(document: Any) -> None:
    """Raise jsonschema.ValidationError if ``document`` is not a loadtui.run/1 file."""
    jsonschema.validate(document, schema())


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not a number a run file may hold")


def load(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RunFileError(
            f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    try:
        document = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise RunFileError(f"{path}: not JSON (truncated or corrupt): {exc}") from None
    if not isinstance(document, dict) or not str(document.get("schema", "")).startswith(
        "loadtui.run/"
    ):
        raise RunFileError(f"{path}: not a loadtui run file (no 'schema': '{SCHEMA_ID}')")
    if document["schema"] != SCHEMA_ID:
        raise RunFileError(
            f"{path}: schema {document['schema']} is not supported by loadtui {__version__} "
            f"(it reads {SCHEMA_ID})"
        )
    try:
        validate(document)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "top level"
        raise RunFileError(f"{path}: invalid run file at {where}: {exc.message}") from None
    for where, data in _encoded_histograms(document):
        try:
            hdr.decode(data)
        except Exception:
            raise RunFileError(f"{path}: the histogram at {where} does not decode") from None
    return document


def _encoded_histograms(document: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Every HDR histogram in a run file, with where it is (a JSON path)."""
    yield "histogram/data", document["histogram"]["data"]
    for name, histogram in document.get("histograms", {}).items():
        yield f"histograms/{name}/data", histogram["data"]
    for index, entry in enumerate(document["timeline"]):
        if "hdr" in entry:
            yield f"timeline/{index}/hdr", entry["hdr"]
