"""loadtui.cli (--prometheus-port, --prometheus-linger) with loadtui.run.exporter: a real run
against a real app, its endpoint scraped while it goes and after it ended, read with
prometheus_client's parser and held against the run file; a port that cannot be had is one
line and exit 2 with no load sent."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadtui.engine import hdr
from loadtui.run import runfile
from tests.apps import received
from tests.helpers import loadtui, parse, start, wait_for

MIX = """
[[requests]]
name = "hit"
path = "/hit"
weight = 3

[[requests]]
name = "missing"
path = "/nothing-here"
weight = 1
"""

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    text = httpx.get(url, timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def by(samples: Samples, metric: str, **labels: str) -> float:
    return samples.get((f"loadtui_client_{metric}", tuple(sorted(labels.items()))), 0.0)


def total(samples: Samples, metric: str) -> float:
    return sum(v for (name, _), v in samples.items() if name == f"loadtui_client_{metric}")


@pytest.mark.e2e
def test_the_endpoint_scraped_during_a_run_ends_equal_to_its_run_file(counter, tmp_path: Path):
    scenario, out = tmp_path / "mix.toml", tmp_path / "run.json"
    scenario.write_text(MIX)
    proc = start(
        "run", "--scenario", scenario, "--target", counter, "--users", "3", "--duration", "3",
        "--prometheus-port", "0", "--json", out,
    )  # fmt: skip
    try:
        said = proc.stderr.readline()  # before the load: where the figures are
        assert said.startswith("loadtui run: Prometheus metrics at http://127.0.0.1:"), said
        url = said.split(" at ", 1)[1].strip()
        during = wait_for(lambda: (s := scrape(url)) and total(s, "requests_total") and s, 30)
        assert during and total(during, "run_done") == 0  # served while the load goes
        final = wait_for(lambda: (s := scrape(url)) and total(s, "run_done") == 1 and s, 60)
        scraped_at = time.monotonic()
        assert final, "the run never ended on the endpoint"
        assert proc.wait(30) == 0  # that scrape of the final figures ends its linger (20 s)
        assert time.monotonic() - scraped_at < 15
    finally:
        proc.kill()
        proc.communicate()
    doc = runfile.load(out)
    (run_id,) = {dict(labels)["run_id"] for name, labels in final if "run_info" in name}
    assert sum(r.requests for r in doc.requests) == doc.summary.requests
    for stats in doc.requests:
        name = {"run_id": run_id, "name": stats.name}
        assert by(final, "requests_total", **name) == stats.requests > 0
        for kind, count in stats.errors_by_kind.items():
            assert by(final, "errors_total", kind=kind, **name) == count
        latency = hdr.decode(stats.histogram.data).get_total_count()
        assert by(final, "request_duration_seconds_count", **name) == latency
        assert by(final, "request_duration_seconds_bucket", le="+Inf", **name) == latency
        assert stats.first_byte_histogram is not None
        first_byte = hdr.decode(stats.first_byte_histogram.data).get_total_count()
        assert by(final, "time_to_first_byte_seconds_count", **name) == first_byte
    missing = next(r for r in doc.requests if r.name == "missing")
    assert missing.errors_by_kind == {"http_404": missing.requests}
    assert total(final, "errors_total") == doc.summary.errors
    # the app may have counted requests still in flight when the load ended: a user each
    hits = next(r for r in doc.requests if r.name == "hit").requests
    assert 0 <= received(counter)["hits"] - hits <= 3


def command_line(command: str, url: str, out: Path) -> list[str | Path]:
    """A command line of ``command`` loading COUNTER's /hit at ``url`` (the TUI: "tui")."""
    if command == "run":
        return ["run", "/hit", "--target", url, "--users", "2", "--json", out / "run.json"]
    if command == "matrix":
        return ["matrix", "--target", url, "--routes", "/hit", "--users", "2", "--out", out]
    if command == "capacity":
        return ["capacity", "/hit", "--target", url, "--slo", "p99<1s", "--out", out]
    return ["--target", url, "--route", "/hit", "--runs-dir", out]


@pytest.mark.e2e
@pytest.mark.parametrize("command", ["run", "matrix", "capacity", "tui"])
def test_a_port_in_use_is_one_line_and_exit_2_before_any_load(command, counter, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = loadtui(*command_line(command, counter, out), "--prometheus-port", port)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"--prometheus-port {port}: " in lines[0], result.stderr
    assert "in use" in lines[0]
    assert received(counter)["hits"] == 0
    assert not list(out.iterdir())  # no run file, no run directory


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["run", "5", "--prometheus-port", "70000"], "must be from 0 to 65,535"),
        (["matrix", "--prometheus-port", "-1"], "must be from 0 to 65,535"),
        (["--prometheus-port", "http"], "is not a whole number"),
        (["run", "5", "--prometheus-linger", "5"], "give it too"),
        (["capacity", "5", "--slo", "p99<1s", "--prometheus-linger", "5"], "give it too"),
        (["run", "5", "--prometheus-port", "0", "--prometheus-linger", "-2"], "must be a number"),
    ],
)
def test_a_port_or_linger_out_of_range_is_refused_in_one_line(argv, words):
    code, said = parse(argv)
    assert code == 2 and words in said, said
    assert len(said.strip().splitlines()) == 1
