"""The time to the first byte and the streams from the engine's snapshots to what is shown and
judged: the run model's totals, the run document (old files still load), the thresholds
``ttfb_*`` and ``gap_*``, the stream_gaps verdict's tie to a stall, the pane's line. Run models
filled by hand (tests/synthetic.py): no process or socket."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from loadtui.engine import hdr
from loadtui.engine.messages import IntervalSnapshot, StreamInterval
from loadtui.report import tables
from loadtui.report.merge import merge_documents
from loadtui.run import document, gate, runfile, stats, verdicts
from loadtui.run.gate import ThresholdError
from loadtui.run.model import RunModel
from loadtui.run.rundoc import RunDocument, Verdict
from loadtui.tui.widgets import render
from tests import synthetic

FIXTURES = Path(__file__).parents[1] / "fixtures"


def second(
    index: int,
    first_byte_ms: tuple[float, ...] = (2.0, 4.0),
    gaps_ms: tuple[float, ...] = (50.0, 50.0),
    *,
    streams: int = 1,
    events: int = 20,
) -> IntervalSnapshot:
    """Second ``index``: two requests, their first bytes, ``streams`` streams ending in it with
    ``events`` events, and the gaps between pieces seen in it."""
    stream = StreamInterval(
        streams=streams,
        events=events,
        chunks=events,
        gap_hdr=synthetic.histogram(gaps_ms) if gaps_ms else None,
        first_piece_hdr=synthetic.histogram([f + 1 for f in first_byte_ms]) if streams else None,
        duration_hdr=synthetic.histogram([1000.0] * streams) if streams else None,
    )
    return replace(
        synthetic.snapshot(index, [1000.0, 1000.0]),
        first_byte_hdr=synthetic.histogram(first_byte_ms),
        stream=stream,
    )


def streaming(seconds: int = 4, **kwargs: object) -> RunModel:
    per_second = [second(s) for s in range(1, seconds + 1)]
    return synthetic.model(seconds, per_second=per_second, **kwargs)  # type: ignore[arg-type]


def test_the_run_document_has_the_first_byte_and_the_streams():
    doc = document.build(streaming())
    first = doc.summary.first_byte_ms
    assert first is not None and first.p50 == pytest.approx(2.0, rel=0.01)
    assert first.max == pytest.approx(4.0, rel=0.01)
    assert first.mean == pytest.approx(3.0, rel=0.01)
    stream = doc.summary.stream
    assert stream is not None
    assert (stream.streams, stream.events, stream.chunks) == (4, 80, 80)
    assert stream.events_per_s == pytest.approx(20.0)
    assert stream.gap_ms.p99 == pytest.approx(50.0, rel=0.01)
    assert set(stream.histograms) == {"gap", "first_piece", "duration"}
    assert "first_byte" in doc.histograms
    assert [e.events for e in doc.timeline] == [20] * 4
    assert [e.gap_max_ms for e in doc.timeline] == [pytest.approx(50.0, rel=0.01)] * 4
    # it survives the file: written, validated, read back
    again = RunDocument.model_validate_json(doc.to_json())
    assert again.summary == doc.summary


def test_a_run_with_no_stream_has_no_stream_figures():
    per_second = [replace(second(s), stream=None) for s in (1, 2)]
    doc = document.build(synthetic.model(2, per_second=per_second))
    assert doc.summary.stream is None and doc.summary.first_byte_ms is not None
    assert all(e.gap_max_ms is None and e.events == 0 for e in doc.timeline)


@pytest.mark.parametrize("name", ["run-0.1.0-closed.json", "run-0.1.0-open.json"])
def test_old_run_files_load_without_them_and_their_thresholds_say_so(name: str):
    doc = runfile.load(FIXTURES / name)
    assert doc.summary.first_byte_ms is None and doc.summary.stream is None
    for text, why in (("ttfb_p99<300ms", "no response began"), ("gap_p99<1s", "no stream seen")):
        result = gate.outcome(doc, gate.parse_threshold(text))
        assert not result.passed and result.observed is None
        assert why in gate.describe(result)


def test_one_second_seen_by_two_engines_adds_their_events_and_keeps_the_longest_gap():
    run = streaming(1)
    entry = run.timeline()[0]
    other = entry.model_copy(update={"events": 7, "gap_max_ms": 900.0})
    merged = stats.add_seconds([entry, other])
    assert (merged.events, merged.gap_max_ms) == (27, 900.0)


# ---- thresholds --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "metric", "limit"),
    [
        ("ttfb_p99<300ms", "ttfb_p99", 300.0),
        ("ttfb_p50<=0.2s", "ttfb_p50", 200.0),
        ("ttfb_p90 < 500us", "ttfb_p90", 0.5),
        ("gap_p99<100ms", "gap_p99", 100.0),
        ("gap_max<2s", "gap_max", 2000.0),
    ],
)
def test_first_byte_and_gap_thresholds_parse_in_ms(text: str, metric: str, limit: float):
    threshold = gate.parse_threshold(text)
    assert (threshold.metric, threshold.limit, threshold.unit) == (metric, limit, "ms")


def test_a_named_requests_first_byte_can_be_judged():
    threshold = gate.parse_threshold("events.ttfb_p99<1s", names=["events", "other"])
    assert threshold.request == "events" and threshold.metric == "ttfb_p99"
    with pytest.raises(ThresholdError, match="no unit"):
        gate.parse_threshold("gap_p99<100")
    with pytest.raises(ThresholdError, match="unknown figure 'ttfb_p42'"):
        gate.parse_threshold("ttfb_p42<1s")


def test_first_byte_and_gap_thresholds_judge_the_runs_figures():
    doc = document.build(streaming())
    judged = {
        text: gate.outcome(doc, gate.parse_threshold(text))
        for text in ("ttfb_p99<5ms", "ttfb_p99<3ms", "gap_p99<100ms", "gap_p50<40ms")
    }
    assert [r.passed for r in judged.values()] == [True, False, True, False]
    assert judged["gap_p50<40ms"].observed == pytest.approx(50.0, rel=0.01)


# ---- the stall tie -----------------------------------------------------------------------------
def stream_gaps(run: RunModel) -> Verdict | None:
    return next((v for v in verdicts.compute(run) if v.code == "stream_gaps"), None)


def with_gap(at: int, gap_ms: float, stalls: list) -> RunModel:
    per_second = [second(s) for s in range(1, 7)]
    per_second[at - 1] = second(at, gaps_ms=(50.0, gap_ms))
    return synthetic.model(6, per_second=per_second, stalls=stalls)


def test_a_gap_that_was_a_stall_is_tied_to_its_culprit():
    # the stall runs from 2.2 s to 3.2 s into the run; the gap it made ends in second 4
    run = with_gap(4, 1010.0, [synthetic.stall(2.2, 1.0, "stalling_events")])
    verdict = stream_gaps(run)
    assert verdict is not None and verdict.severity == "warning"
    assert "stalling_events (app.py:1)" in verdict.message
    assert "up to 1.0s" in verdict.message
    assert verdict.evidence["stalls"] == 1
    assert verdict.evidence["culprits"] == [
        {"culprit": "stalling_events", "location": "app.py:1", "leaf": ""}
    ]


@pytest.mark.parametrize(
    ("at", "gap_ms", "stalls"),
    [
        (4, 1010.0, []),  # a long gap, no stall: the stream's own pace
        (4, 60.0, [synthetic.stall(2.2, 1.0)]),  # a stall, and the stream's gaps stayed short
        (6, 1010.0, [synthetic.stall(2.2, 1.0)]),  # a long gap, seconds after the stall
    ],
)
def test_no_false_alarm_on_a_stream_whose_gaps_no_stall_explains(at, gap_ms, stalls):
    assert stream_gaps(with_gap(at, gap_ms, stalls)) is None


def test_no_stream_no_stream_verdict():
    per_second = [replace(second(s), stream=None) for s in range(1, 7)]
    run = synthetic.model(6, per_second=per_second, stalls=[synthetic.stall(2.2, 1.0)])
    assert stream_gaps(run) is None


# ---- shown -------------------------------------------------------------------------------------
def test_the_summary_shows_the_first_byte_and_the_streams():
    text = tables.run_summary(document.build(streaming()))
    assert "first byte:" in text
    assert "streams    4, 80 events (20.0/s), gap p50 50.0 p99 50.0" in text


@pytest.mark.parametrize("width", range(40, 201))
def test_the_pane_line_fits_every_width(width: int):
    run = streaming()
    lines = render.first_byte_and_streams(run.summary(), width)
    assert len(lines) == 1 and lines[0].cell_len <= width
    assert lines[0].plain.startswith(("first byte p50 2.0 p99 4.0 ms", "gap p50 50.0 p99 50.0 ms"))
    if width >= 80:
        assert "gap" in lines[0].plain and "events/s" in lines[0].plain


def test_merged_runs_add_their_first_bytes_and_streams():
    one, two = document.build(streaming(2)), document.build(streaming(4))
    merged = merge_documents([one, two])
    stream, first = merged.summary.stream, merged.summary.first_byte_ms
    assert stream is not None and first is not None
    assert (stream.streams, stream.events) == (6, 120)
    assert first.max == pytest.approx(4.0, rel=0.01)
    # the histograms added: the merged first byte's count is both runs'
    data = merged.histograms["first_byte"].data
    assert hdr.decode(data).total_count == 12
    # a run with no stream (or from before streams were recorded) adds none
    plain = merge_documents([one, document.build(synthetic.model(2))]).summary.stream
    assert plain is not None and (plain.streams, plain.events) == (2, 40)


def test_the_panes_lower_part_at_80x24_shows_them_under_the_verdicts():
    run = with_gap(4, 1010.0, [synthetic.stall(2.2, 1.0, "stalling_events")])
    found = verdicts.compute(run)
    # a pane at 80x24 is 78 cells wide; its lower part about 12 rows high
    lines = [line.plain for line in render.lower(run, found, 78, 12)]
    shown = render.verdict_lines(found, 78, 12)[0]
    assert lines[len(shown)].startswith("first byte p50 2.0 p99 4.0 ms  gap p50 50.")
    assert all(len(line) <= 78 for line in lines) and len(lines) <= 12
