"""Time to the first byte and streams timed chunk by chunk, end to end: a real FastAPI app
(instrumented) under uvicorn, the real CLI, the run file read back. The app counts what it sent;
the figures are checked against the truth it was built with (50 ms between events), with wide
margins: the suite runs beside other load on two cores."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from loadtui.run import runfile
from loadtui.run.rundoc import RunDocument
from tests.apps import serve_app
from tests.helpers import LOAD, loadtui

pytestmark = [pytest.mark.e2e, LOAD]

EVENTS, CHUNKS, APART_S = 20, 10, 0.05

STREAMING = f"""
    import asyncio
    import time

    from fastapi import FastAPI
    from fastapi.responses import StreamingResponse

    from loadtui import instrument

    app = FastAPI()
    instrument(app)
    finished = {{"sse": 0, "chunks": 0}}  # streams sent to their end


    async def events():
        for i in range({EVENTS}):
            yield f"event: tick\\ndata: {{i}}\\n\\n"
            await asyncio.sleep({APART_S})
        finished["sse"] += 1


    async def chunks():
        for _ in range({CHUNKS}):
            yield b"x" * 100
            await asyncio.sleep({APART_S})
        finished["chunks"] += 1


    async def stalling_events():
        for i in range(6):
            yield f"data: {{i}}\\n\\n"
            if i == 2:
                time.sleep(1.0)  # blocks the loop: every stream stops
            await asyncio.sleep({APART_S})


    async def endless():
        while True:
            yield "data: more\\n\\n"
            await asyncio.sleep(0.1)


    @app.get("/sse")
    async def sse():
        return StreamingResponse(events(), media_type="text/event-stream")


    @app.get("/chunks")
    async def chunked():
        return StreamingResponse(chunks(), media_type="application/octet-stream")


    @app.get("/stall")
    async def stall():
        return StreamingResponse(stalling_events(), media_type="text/event-stream")


    @app.get("/endless")
    async def endless_stream():
        return StreamingResponse(endless(), media_type="text/event-stream")


    @app.get("/finished")
    async def count():
        return finished
"""

SCENARIO = """
[[requests]]
name = "events"
path = "/sse"

[[requests]]
name = "download"
path = "/chunks"
"""


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory):
    with serve_app(STREAMING, tmp_path_factory.mktemp("streaming")) as app:
        yield app.url


def run(url: str, out: Path, *args: str, code: int = 0) -> RunDocument:
    result = loadtui(
        "run", *args, "--target", url, "--users", "2", "--spawn-rate", "100",
        "--think-min", "0", "--think-max", "0", "--json", str(out), timeout=60,
    )  # fmt: skip
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    return runfile.load(out)


def test_sse_and_chunked_streams_are_timed_and_counted(app_url: str, tmp_path: Path):
    scenario = tmp_path / "streams.toml"
    scenario.write_text(SCENARIO)
    doc = run(
        app_url, tmp_path / "run.json", "--scenario", str(scenario), "--duration", "3",
        "--threshold", "gap_p99<400ms", "--threshold", "events.ttfb_p99<400ms",
    )  # fmt: skip
    finished = httpx.get(f"{app_url}/finished").json()
    named = {r.name: r for r in doc.requests}
    events, download = named["events"], named["download"]
    assert events.errors == download.errors == 0
    # every stream loadtui read to its end is one the app sent to its end (those cut off by the
    # run's end are in neither count, or in the app's alone)
    assert events.stream is not None and download.stream is not None
    assert 1 <= events.stream.streams == events.requests <= finished["sse"]
    assert 1 <= download.stream.streams == download.requests <= finished["chunks"]
    assert events.stream.events == EVENTS * events.stream.streams  # exact: the app sent these
    assert download.stream.chunks == CHUNKS * download.stream.streams
    assert download.stream.events == 0  # a chunked body that is not SSE has no events
    # the truth: the head at once, then a piece every 50 ms, for 0.95 s (0.45 s) in all
    for named_stream, pieces in ((events.stream, EVENTS), (download.stream, CHUNKS)):
        gap = named_stream.gap_ms
        assert 30 <= gap.p50 <= 300, gap
        assert named_stream.first_piece_ms.p50 < 300
        assert (pieces - 1) * APART_S * 1000 * 0.8 <= named_stream.duration_ms.p50 <= 3000
    first = doc.summary.first_byte_ms
    assert first is not None and 0 < first.p50 <= 300
    assert first.max <= doc.summary.latency_ms.max
    # latency runs to the last byte: a whole stream
    assert events.latency_ms.p50 >= (EVENTS - 1) * APART_S * 1000 * 0.8
    stream = doc.summary.stream
    assert stream is not None
    assert stream.events == events.stream.events and stream.streams == doc.summary.requests
    assert sum(e.events for e in doc.timeline) == stream.events
    assert doc.gate is not None and doc.gate.passed
    assert not [v for v in doc.verdicts if v.code == "stream_gaps"]  # a healthy stream


def test_a_loop_stall_mid_stream_is_a_gap_named_after_its_culprit(app_url: str, tmp_path: Path):
    doc = run(
        app_url, tmp_path / "run.json", "/stall", "--duration", "3",
        "--threshold", "gap_max<500ms", code=3,
    )  # fmt: skip
    stream = doc.summary.stream
    assert stream is not None and stream.gap_ms.max >= 1000, stream.gap_ms  # 1 s + 50 ms
    verdict = next((v for v in doc.verdicts if v.code == "stream_gaps"), None)
    assert verdict is not None, [v.code for v in doc.verdicts]
    assert "stalling_events (app_under_test.py:" in verdict.message
    assert verdict.evidence["longest_gap_ms"] >= 1000
    assert doc.gate is not None and not doc.gate.passed


def test_a_stream_longer_than_the_timeout_ends_as_one_and_keeps_its_figures(
    app_url: str, tmp_path: Path
):
    doc = run(
        app_url, tmp_path / "run.json", "/endless", "--duration", "3", "--timeout", "1", code=1
    )
    summary = doc.summary
    assert summary.requests >= 2 and summary.errors_by_kind == {"timeout": summary.requests}
    stream = summary.stream
    assert stream is not None and stream.streams == summary.requests
    # an event every 0.1 s for 1 s
    assert 5 * stream.streams <= stream.events <= 11 * stream.streams
    assert 60 <= stream.gap_ms.p50 <= 400
    assert summary.first_byte_ms is not None and summary.first_byte_ms.p50 < 500


def test_open_loop_times_the_first_byte_corrected_and_uncorrected(app_url: str, tmp_path: Path):
    out = tmp_path / "run.json"
    result = loadtui(
        "run", "/chunks", "--target", app_url, "--rate", "10", "--users", "10",
        "--duration", "2", "--json", str(out), timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = runfile.load(out).summary
    corrected, uncorrected = summary.first_byte_ms, summary.first_byte_uncorrected_ms
    assert corrected is not None and uncorrected is not None
    # from the intended send time (corrected) it is never shorter than from the actual one
    assert uncorrected.p50 <= corrected.p50 and uncorrected.max <= corrected.max
    assert summary.stream is not None
    assert summary.stream.chunks == CHUNKS * summary.stream.streams
