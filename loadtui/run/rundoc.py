"""The run document (``loadtui.run/1``), defined once: one run (one route at one load).

These models are the run file's shape. The run file is built from them
(:mod:`loadtui.run.document`), loaded and validated through them (:mod:`loadtui.run.runfile`),
and the JSON Schema shipped in ``loadtui/run/schema/run.schema.json`` is generated from them
(``python -m loadtui.run.rundoc``). The run model keeps its timeline in these types too, so a
figure has one name from the engine to the file.

Every number a file may hold is finite and within range, so that no reader has to guard
against ``NaN``, ``1e309`` or a 400-digit integer.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
    model_validator,
)

if TYPE_CHECKING:
    from loadtui.engine.hdr import LatencySummary
from loadtui.engine import schedule
from loadtui.engine.plan import check_think
from loadtui.run import schemas

SCHEMA_ID = "loadtui.run/1"
SCHEMA_PATH = Path(__file__).with_name("schema") / "run.schema.json"
MIN_INTERVAL_S = 1e-3  # shorter intervals count as this long in rates
MAX_COUNT = 2**53  # counts stay exact as floats (JSON readers in other languages)
MAX_HDR_CHARS = 8_000_000  # a full one-hour histogram at 3 figures encodes to well under 1 MB

State = Literal["starting", "running", "finished", "interrupted", "failed"]
Severity = Literal["critical", "warning", "info"]
SEVERITY_ORDER: dict[str, int] = {"critical": 0, "warning": 1, "info": 2}

Number = Annotated[float, Field(allow_inf_nan=False, ge=-1e300, le=1e300)]
NonNegative = Annotated[float, Field(allow_inf_nan=False, ge=0, le=1e300)]
Positive = Annotated[float, Field(allow_inf_nan=False, gt=0, le=1e300)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Counts = dict[str, Count]
Time = Annotated[
    AwareDatetime,
    PlainSerializer(lambda t: t.isoformat(), return_type=str),
]
Encoded = Annotated[str, Field(max_length=MAX_HDR_CHARS)]


class Part(BaseModel):
    """A part of the document: unknown keys (from a newer 1.x writer) are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# ---- what was loaded, and how ----------------------------------------------------------------
class Tool(Part):
    name: str = "loadtui"
    version: str


class Environment(Part):
    python: str
    implementation: str | None = None
    platform: str
    machine: str | None = None
    cpus: Count | None = None
    hostname: str | None = None
    packages: dict[str, str | None] = Field(default_factory=dict)


class TargetInfo(Part):
    url: str
    route: str
    spawned: bool
    metrics_url: str | None = None
    pid: Count | None = None
    variant: str | None = None  # the demo's variant key ("5", "4r"), when a demo route
    pattern: str | None = None  # handler / inner / background of that variant


class RateStage(Part):
    """One stage of an open loop's ramped rate: held when both rates are equal."""

    start_rps: NonNegative
    end_rps: NonNegative
    duration_s: Positive


class Load(Part):
    mode: Literal["closed", "open"]
    users: Annotated[int, Field(ge=1, le=MAX_COUNT)]
    spawn_rate: Positive
    duration_s: Positive | None
    think_s: tuple[NonNegative, NonNegative]
    rate: Positive | None  # with stages: the highest rate they ask
    timeout_s: Positive = 60.0
    stages: list[RateStage] | None = None  # open loop, ``--rate 10:200@60s``: its stages

    @property
    def stages_text(self) -> str | None:
        """The stages as ``--rate`` takes them (``10@10s,10:200@60s``); None without stages."""
        if not self.stages:
            return None
        return schedule.text(
            tuple(schedule.Stage(s.start_rps, s.end_rps, s.duration_s) for s in self.stages)
        )

    @model_validator(mode="after")
    def _consistent(self) -> Load:
        if self.mode == "open" and self.rate is None:
            raise ValueError("an open-loop run needs its rate")
        check_think(self.think_s)
        return self


# ---- what was measured, client side ----------------------------------------------------------
class LatencyMs(Part):
    """Latency figures in milliseconds; all None when nothing was recorded."""

    min: NonNegative | None = None
    mean: NonNegative | None = None
    p50: NonNegative | None = None
    p90: NonNegative | None = None
    p99: NonNegative | None = None
    p999: NonNegative | None = None
    max: NonNegative | None = None

    @classmethod
    def of(cls, summary: LatencySummary) -> LatencyMs:
        """From an :class:`loadtui.engine.hdr.LatencySummary`."""
        return cls(
            min=summary.min,
            mean=summary.mean,
            p50=summary.p50,
            p90=summary.p90,
            p99=summary.p99,
            p999=summary.p999,
            max=summary.max,
        )


class Histogram(Part):
    """An HDR histogram of latencies in microseconds, lossless and mergeable."""

    encoding: Literal["hdrhistogram-base64"] = "hdrhistogram-base64"
    unit: Literal["us"] = "us"
    lowest: Count = 1
    highest: Count = 3_600_000_000
    significant_figures: Count = 3
    data: Encoded


StreamHistogram = Literal["gap", "first_piece", "duration"]


class StreamStats(Part):
    """The streaming responses seen (``text/event-stream``, or a chunked body), read piece by
    piece as they arrived: a piece is what one read brought, a gap the time between two pieces
    of one response. Streams cut off (a timeout, ``too_large``) count with what they carried."""

    streams: Count
    events: Count = 0  # SSE events: blocks with a data field, ended by a blank line
    chunks: Count = 0  # HTTP chunks with data
    events_per_s: NonNegative = 0.0  # over the run
    gap_ms: LatencyMs = Field(default_factory=LatencyMs)
    first_piece_ms: LatencyMs = Field(default_factory=LatencyMs)  # start to the first chunk/event
    duration_ms: LatencyMs = Field(default_factory=LatencyMs)  # the first byte to the end
    histograms: dict[StreamHistogram, Histogram] = Field(default_factory=dict)


class Summary(Part):
    requests: Count
    errors: Count
    errors_by_kind: Counts = Field(default_factory=dict)
    duration_s: NonNegative
    rps: NonNegative
    rps_to_last_response: NonNegative | None = None  # Locust's convention, for comparison
    latency_ms: LatencyMs
    latency_uncorrected_ms: LatencyMs | None = None  # open loop: from the actual send
    send_lag_ms: LatencyMs | None = None  # open loop: actual minus intended send time
    unsent: Count | None = None  # open loop: due at the end, never sent
    # requests sent and never answered: still waiting when the load ended (given up then, not
    # counted in ``requests``), and how long the oldest of them had waited; None in files
    # written before loadtui recorded them
    in_flight_at_end: Count | None = None
    oldest_in_flight_s: NonNegative | None = None
    # to each response's first byte (the status line's), from where latency counts from, in
    # open loop uncorrected too; None in files written before loadtui recorded them
    first_byte_ms: LatencyMs | None = None
    first_byte_uncorrected_ms: LatencyMs | None = None
    stream: StreamStats | None = None  # None: no streaming response was seen
    # a scenario with [[setup]]: the users (open loop: connections) still not through it when
    # the load ended (their setup kept failing: each retried it with back-off); None: no setup
    users_not_through_setup: Count | None = None

    @property
    def succeeded(self) -> int:
        """Requests answered as expected (--expect; by default a status below 400)."""
        return max(0, self.requests - self.errors)


class RequestStats(Part):
    """One named request of a mix (``--scenario``), over the whole run."""

    name: str
    method: str
    path: str
    weight: Positive = 1.0
    requests: Count
    errors: Count
    errors_by_kind: Counts = Field(default_factory=dict)
    rps: NonNegative
    latency_ms: LatencyMs
    histogram: Histogram
    first_byte_ms: LatencyMs | None = None
    first_byte_histogram: Histogram | None = None
    stream: StreamStats | None = None


class GeneratorSecond(Part):
    """The engine watching itself over one second; with several engines, the highest reading of
    each (the busiest engine's CPU, the worst lag)."""

    cpu_percent: NonNegative  # of one core
    loop_lag_ms: NonNegative  # its event loop's worst lag
    rss_bytes: Count = 0
    open_fds: Count = 0
    tasks: Count = 0


class ServerSecond(Part):
    """The probe's samples over one second, folded (peaks, except where named)."""

    samples: Count = 0
    cpu_percent: NonNegative | None = None  # mean over the samples
    rss_bytes: Count | None = None
    threadpool_capacity: Count | None = None  # the last reading
    threadpool_busy: Count | None = None
    threadpool_waiting: Count | None = None
    background_pending: Counts | None = None  # by kind, the last reading
    background_running: Counts | None = None  # by kind, the last reading
    requests_in_flight: Count | None = None
    tick_age_max_s: NonNegative | None = None
    loop_lag_max_s: NonNegative | None = None
    heartbeat_ms_max: NonNegative | None = None
    heartbeat_failures: Count = 0
    stalled: bool = False
    pool_saturated: bool = False  # some worker's pool was full with tasks waiting

    @property
    def background_pending_total(self) -> int | None:
        pending = self.background_pending
        return None if pending is None else sum(pending.values())


class TimelineEntry(Part):
    """One second of the run: the client's figures, the engine's own, the server's."""

    t: NonNegative  # seconds from the start of the run to the end of this second
    seconds: NonNegative | None = None  # how long this interval was (the last may be short)
    requests: Count
    errors: Count
    errors_by_kind: Counts = Field(default_factory=dict)
    rps: NonNegative
    p50_ms: NonNegative | None = None
    p90_ms: NonNegative | None = None
    p99_ms: NonNegative | None = None
    max_ms: NonNegative | None = None
    users: Count
    in_flight: Count = 0  # requests sent and not answered yet, at the end of this second
    oldest_in_flight_s: NonNegative | None = None  # ... the oldest of them waiting this long
    unsent: Count = 0
    # open loop: the requests the schedule had due in this second (its intended rate, times
    # ``seconds``); None: closed loop, or a file written before loadtui recorded it
    intended: Count | None = None
    generator: GeneratorSecond | None = None
    server: ServerSecond = Field(default_factory=ServerSecond)
    hdr: Encoded | None = None  # this second's latency histogram
    engines: Annotated[int, Field(ge=0, le=MAX_COUNT)] = 1  # how many engines' figures it holds
    events: Count = 0  # SSE events of the streams that ended in this second
    gap_max_ms: NonNegative | None = None  # the longest gap between two pieces of a stream

    @property
    def length_s(self) -> float:
        return max(self.seconds or 1.0, MIN_INTERVAL_S)

    @property
    def intended_rps(self) -> float | None:
        """The rate the open loop's schedule asked over this second."""
        return None if self.intended is None else self.intended / self.length_s

    @property
    def answered(self) -> int:
        """Requests that got a response, whatever its status: not those that timed out, were
        refused or cut off (the error kinds that are not ``http_<status>``)."""
        lost = sum(n for kind, n in self.errors_by_kind.items() if not kind.startswith("http_"))
        return max(0, self.requests - lost)


# ---- what was seen, server side --------------------------------------------------------------
Share = Annotated[float, Field(allow_inf_nan=False, ge=0, le=1)]
Text = Annotated[str, Field(max_length=300)]


class StallWindow(Part):
    """A stall of the server's event loop, the part of it that fell within the run."""

    started_at: Time
    duration_s: NonNegative
    culprit: str
    location: str = ""
    leaf: Text = ""  # the library call the culprit was in: "psycopg Connection.wait"
    ongoing: bool = False  # still blocked at the last look
    pid: Count | None = None  # the worker process whose loop it was
    # the share of it the loop's thread was runnable but waiting for a CPU: a busy machine's part
    runqueue_share: Share = 0.0
    # a saturated loop's late heartbeat, not one call blocking it: left out of stall counts
    saturation_lag: bool = False


class Holder(Part):
    """An application function holding threads (the stack sampler's view, one second)."""

    function: Text
    location: Text = ""  # "file:line"
    leaf: Text = ""  # the library call it was in: "time.sleep", "psycopg Connection.wait"
    threads: NonNegative  # threads it held on average (the loop: the share of its time)
    on_cpu: Share = 0.0  # the share of that time on CPU (the rest: waiting)
    # the share of its looks that found it running Python, not in a call: holding the GIL or
    # waiting for it (on CPU in the process's one Python thread at a time, asleep to the kernel)
    python: Share = 0.0
    waiting_for: Text = ""  # "database connection": inside SQLAlchemy's pool checkout
    db_pool: Text = ""  # that pool's size when it could be read: "5 + 10 overflow"
    background: bool = False  # inside a sync background task


class ThreadsSecond(Part):
    """Who held the server's threads in one second, every worker added up, and how busy its
    event loop was (the busiest worker's)."""

    t: Number  # seconds from the start of the run to the end of this second
    loop_busy: Share | None = None  # the share of the second the loop ran code, not waiting
    loop: list[Holder] = Field(default_factory=list, max_length=64)
    pool: list[Holder] = Field(default_factory=list, max_length=64)  # AnyIO's worker threads
    other: list[Holder] = Field(default_factory=list, max_length=64)  # threads of their own


class DrainPoint(Part):
    t: Number  # seconds from the start of the run
    pending: Count


class Signals(Part):
    available: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)


class WorkerTotals(Part):
    """One worker process of the server (``uvicorn --workers N``, gunicorn) over the run."""

    pid: Count
    sidecar: bool = False  # its metrics sidecar was found and answered
    stalls: Count = 0
    stalled_s: NonNegative = 0.0
    longest_stall_s: NonNegative | None = None
    loop_lag_s_max: NonNegative | None = None
    threadpool_capacity: Count | None = None
    threadpool_busy_max: Count | None = None
    threadpool_waiting_max: Count | None = None
    threadpool_saturated_looks: Count = 0
    background_tasks_pending_end: Count | None = None
    cpu_percent_mean: NonNegative | None = None
    rss_bytes_max: Count | None = None


class ServerTotals(Part):
    stalls: list[StallWindow] = Field(default_factory=list)
    background_tasks_pending_end: Count | None = None
    background_tasks_pending_end_by_kind: Counts | None = None
    background_tasks_pending_after_drain: Count | None = None
    drain_s: NonNegative | None = None
    drain: list[DrainPoint] = Field(default_factory=list)
    threadpool_capacity: Count | None = None
    threadpool_busy_max: Count | None = None
    threadpool_waiting_max: Count | None = None
    requests_in_flight_max: Count | None = None
    cpu_percent_mean: NonNegative | None = None  # of one core (several workers: their sum)
    cpu_cores: Count | None = None  # the CPUs the server's processes may run on
    rss_bytes_max: Count | None = None
    loop_lag_s_max: NonNegative | None = None
    heartbeat_unanswered_s: NonNegative | None = None  # the app's /heartbeat went unanswered
    unresponsive_s: NonNegative | None = None  # ... and every sidecar too: a stopped process
    signals: Signals = Field(default_factory=Signals)
    workers: list[WorkerTotals] = Field(default_factory=list)  # one per process, when known
    threads: list[ThreadsSecond] = Field(default_factory=list)  # the sidecars' stack samplers
    probe_failure: str | None = None  # the probe broke: server figures end where it did

    @property
    def blocking_stalls(self) -> list[StallWindow]:
        """The stalls that count: not a saturated loop's late heartbeats."""
        return [s for s in self.stalls if not s.saturation_lag]

    @property
    def longest_stall_s(self) -> float | None:
        return max((s.duration_s for s in self.blocking_stalls), default=None)


class EngineTotals(Part):
    """One engine of the run (``--engines``): where it ran and how it fared."""

    engine: Annotated[int, Field(ge=1, le=MAX_COUNT)]  # 1-based: "engine 2 of 4"
    host: str = ""  # the machine it ran on
    node: str | None = None  # its Ray node, on a cluster
    pid: Count | None = None  # its engine process
    clock_offset_s: Number = 0.0  # its wall clock minus the driver's, measured at the start
    started_after_s: Number | None = None  # its start instant after the run's (~0: together)
    users: Count = 0  # at the start: its share
    requests: Count = 0
    cpu_percent_mean: NonNegative | None = None  # of one core
    cpu_percent_max: NonNegative | None = None
    loop_lag_ms_max: NonNegative | None = None
    rss_bytes_max: Count | None = None
    saturated: bool = False
    saturated_seconds: Count = 0
    lost: bool = False  # it died (or went silent) before the run's end
    lost_at_s: NonNegative | None = None  # seconds into the run
    lost_reason: str | None = None


class GeneratorTotals(Part):
    """The engines over the run: one engine's figures, or the busiest engine's."""

    cpu_percent_mean: NonNegative | None = None
    loop_lag_ms_max: NonNegative | None = None
    saturated: bool = False  # some engine was saturated
    rss_bytes_max: Count | None = None
    saturated_seconds: Count = 0
    engines: list[EngineTotals] = Field(default_factory=list)  # one per engine


class Verdict(Part):
    """A plain-English diagnosis with its evidence."""

    code: str
    severity: Severity
    message: str
    evidence: dict[str, JsonValue] = Field(default_factory=dict)


class MergedFrom(Part):
    run_id: str | None = None
    started_at: Time | None = None
    finished_at: Time | None = None


# ---- the gate: --threshold and --fail-on (loadtui.run.gate) ---------------------------------
Comparison = Literal["<", "<=", ">", ">=", "=="]
ThresholdMetric = Literal[
    "p50",
    "p90",
    "p99",
    "p999",
    "mean",
    "max",
    "ttfb_p50",
    "ttfb_p90",
    "ttfb_p99",
    "ttfb_mean",
    "ttfb_max",
    "gap_p50",
    "gap_p90",
    "gap_p99",
    "gap_max",
    "rps",
    "errors",
    "stalls",
]
ThresholdUnit = Literal["ms", "req/s", "%", "requests", "stalls"]


class Threshold(Part):
    """A threshold as parsed: a figure of the run, a comparison and a limit."""

    text: str  # as given, e.g. "p99<300ms"
    request: str | None = None  # a named request's figures; None: the whole run's
    metric: ThresholdMetric
    comparison: Comparison
    limit: NonNegative  # in ``unit``: latencies in ms, whatever unit the text used
    unit: ThresholdUnit


class ThresholdOutcome(Part):
    threshold: Threshold
    observed: NonNegative | None = None  # None: the run has no such figure (no requests)
    passed: bool


class Gate(Part):
    """What the run was judged by and how it fared: exit code 3 when it did not pass."""

    thresholds: list[ThresholdOutcome] = Field(default_factory=list)
    fail_on: list[str] = Field(default_factory=list)  # verdict codes and severities, as given
    matched: list[str] = Field(default_factory=list)  # the codes of the verdicts it matched
    passed: bool

    @model_validator(mode="after")
    def _consistent(self) -> Gate:
        if self.passed != (not self.matched and all(o.passed for o in self.thresholds)):
            raise ValueError("passed disagrees with the outcomes")
        return self


# ---- the document ----------------------------------------------------------------------------
class RunDocument(Part):
    schema_id: Literal["loadtui.run/1"] = Field(SCHEMA_ID, alias="schema")
    run_id: str | None = None
    tool: Tool
    started_at: Time | None
    finished_at: Time | None
    state: State = "finished"
    interrupted: bool = False
    end_reason: str | None = None
    failure: str | None = None
    environment: Environment
    target: TargetInfo
    load: Load
    summary: Summary
    histogram: Histogram
    histograms: dict[
        Literal["uncorrected", "send_lag", "first_byte", "first_byte_uncorrected"], Histogram
    ] = Field(default_factory=dict)
    requests: list[RequestStats] = Field(default_factory=list)  # per name, in a mix
    timeline: list[TimelineEntry]
    server: ServerTotals
    generator: GeneratorTotals
    verdicts: list[Verdict]
    merged_from: list[MergedFrom] | None = None  # set by `loadtui report --merge`
    gate: Gate | None = None  # None: judged by nothing (no --threshold or --fail-on)

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    @property
    def started_epoch(self) -> float | None:
        return self.started_at.timestamp() if self.started_at else None

    def encoded_histograms(self) -> list[tuple[str, str]]:
        """Every HDR histogram in the document, with where it is (a JSON path)."""
        found = [("histogram/data", self.histogram.data)]
        found += [(f"histograms/{name}/data", h.data) for name, h in self.histograms.items()]
        found += [
            (f"requests/{i}/histogram/data", r.histogram.data) for i, r in enumerate(self.requests)
        ]
        found += [
            (f"requests/{i}/first_byte_histogram/data", r.first_byte_histogram.data)
            for i, r in enumerate(self.requests)
            if r.first_byte_histogram is not None
        ]
        streams = [("summary/stream", self.summary.stream)]
        streams += [(f"requests/{i}/stream", r.stream) for i, r in enumerate(self.requests)]
        found += [
            (f"{where}/histograms/{name}/data", h.data)
            for where, stream in streams
            if stream is not None
            for name, h in stream.histograms.items()
        ]
        found += [
            (f"timeline/{index}/hdr", entry.hdr)
            for index, entry in enumerate(self.timeline)
            if entry.hdr is not None
        ]
        return found

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=1) + "\n"


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a run file, as shipped in loadtui/run/schema/run.schema.json."""
    return schemas.json_schema(
        RunDocument,
        "run-1",
        f"loadtui run file ({SCHEMA_ID})",
        "One run: one route at one load. Generated from loadtui.run.rundoc.",
    )


def schema_text() -> str:
    return schemas.text(json_schema())


if __name__ == "__main__":  # regenerate the shipped schema: python -m loadtui.run.rundoc
    schemas.write(SCHEMA_PATH, json_schema())
