"""loadtui.probe and loadtui.run.verdicts end to end: the probe's findings and the verdicts
judged from them, on spawned demo servers under 40 users for 6-12 s each. Routes 1, 3 and 7 (the
pool full of sync background tasks, the backlog) are in tests/server/test_holders.py."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from loadtui.run import runfile
from loadtui.run.rundoc import RunDocument, Verdict
from tests.helpers import LOAD, loadtui

pytestmark = [pytest.mark.e2e, LOAD]


def run(tmp_path, route: str, *extra: str, duration: str = "6") -> RunDocument:
    out = tmp_path / f"{route.strip('/').replace('/', '_') or 'root'}.json"
    result = loadtui(
        "run", route, "--users", "40", "--spawn-rate", "20", "--duration", duration,
        "--json", str(out), *extra,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return runfile.load(out)


def verdict(doc: RunDocument, code: str) -> Verdict | None:
    return next((v for v in doc.verdicts if v.code == code), None)


def test_row6_completes_while_the_app_cannot_answer(tmp_path):
    doc = run(tmp_path, "6", duration="12")  # one whole 10 s stall fits
    stalls = [s for s in doc.server.stalls if not s.ongoing]
    assert stalls and all(9.5 <= s.duration_s <= 10.5 for s in stalls)
    assert {s.culprit for s in doc.server.stalls} == {"async_background_task_wrapping_sync"}
    blocked = verdict(doc, "event_loop_blocked")
    assert blocked.severity == "critical"
    assert "async_background_task_wrapping_sync" in blocked.message
    # the app's own /heartbeat timed out while the sidecar kept reporting
    assert sum(e.server.heartbeat_failures for e in doc.timeline) >= 10
    assert max(e.server.tick_age_max_s for e in doc.timeline) > 5
    assert any(e.server.stalled for e in doc.timeline)


def test_row4_names_the_blocking_inner_call(tmp_path):
    doc = run(tmp_path, "4")
    blocked = verdict(doc, "event_loop_blocked")
    assert blocked is not None and "sync_inner_function" in blocked.message
    assert blocked.evidence["culprits"][0]["culprit"] == "sync_inner_function"


def test_row4_remedy_does_not_block_the_loop(tmp_path):
    doc = run(tmp_path, "4r")
    assert verdict(doc, "event_loop_blocked") is None
    assert doc.summary.rps > 40


def test_row5_has_no_critical_verdict(tmp_path):
    doc = run(tmp_path, "5")
    assert [v for v in doc.verdicts if v.severity == "critical"] == []
    assert doc.server.background_tasks_pending_end > 100  # 10 s asyncio sleeps in flight
    assert doc.server.cpu_percent_mean is not None
    assert doc.server.rss_bytes_max > 10_000_000


class _Plain(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b"hello" if self.path == "/hello" else b"no"
        self.send_response(200 if self.path == "/hello" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_plain_http_server_runs_and_the_missing_signals_are_named(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Plain)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        doc = run(tmp_path, "/hello", "--target", url, duration="4")
    finally:
        server.shutdown()
    assert doc.summary.requests > 50 and doc.summary.errors == 0
    missing = doc.server.signals.missing
    assert "metrics sidecar" in missing and "heartbeat" in missing
    note = verdict(doc, "signals_missing")
    assert note is not None and "metrics sidecar" in note.message
    assert doc.server.stalls == []
