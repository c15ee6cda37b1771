"""`loadtui compare` on real runs: the same app at 0.10 s and at 0.20 s a request is "slower"
and fails `--fail-if 'p50 slower by 10%'` (exit 3); the same build run twice is the same
within noise; the Markdown, the job summary and the HTML page (opened in Chromium) say so."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import httpx
import pytest

from tests.apps import serve_app
from tests.chromium import visit
from tests.helpers import LOAD, loadtui

pytestmark = [pytest.mark.e2e, LOAD]

APP = """
import asyncio
from fastapi import FastAPI

app = FastAPI()
delay = {"s": 0.10}

@app.get("/heartbeat")
async def heartbeat():
    return {}

@app.post("/delay/{seconds}")
async def set_delay(seconds: float):
    delay["s"] = seconds
    return delay

@app.get("/work")
async def work():
    await asyncio.sleep(delay["s"])
    return {"ok": True}
"""

PAGE_FACTS = """({
  charts: document.querySelectorAll("svg.chart").length,
  lines: document.querySelectorAll("svg.chart path.line").length,
  rows: document.querySelectorAll("table.runs tbody tr").length,
  words: [...document.querySelectorAll("td.word")].map(td => td.textContent),
  title: document.querySelector("article.run h2").textContent,
})"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three 5-second runs of one app, 10 users without think time: at 0.10 s a request, at
    0.20 s, and at 0.10 s again. Five seconds, not the three compare needs at least: over three
    seconds its interval is 5.7 times the bootstrap's own (Student's t at 2 degrees of
    freedom), over five 2.2 times, so one second with a few late requests weighs less."""
    root = tmp_path_factory.mktemp("compare")
    files = {}
    with serve_app(APP, root) as app:
        for name, delay in (("base", 0.10), ("slow", 0.20), ("again", 0.10)):
            httpx.post(f"{app.url}/delay/{delay}", timeout=5).raise_for_status()
            files[name] = root / f"{name}.json"
            args = ["/work", "--target", app.url, "--users", "10", "--spawn-rate", "100"]
            args += ["--think-min", "0", "--think-max", "0", "--duration", "5"]  # ~100 req/s
            result = loadtui("run", *args, "--json", files[name])
            assert result.returncode == 0, result.stderr
    return files


def words(stdout: str) -> dict[str, str]:
    """Each figure's word in the terminal table."""
    found = {}
    for line in stdout.splitlines():
        cells = line.split()
        if cells and cells[0] in {"req/s", "p50", "p90", "p99", "mean", "errors"}:
            found[cells[0]] = cells[-1]
    return found


def test_a_slower_build_is_slower_and_fails_the_build(runs, tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    markdown, html = tmp_path / "compare.md", tmp_path / "compare.html"
    result = loadtui(
        "compare", runs["base"], runs["slow"], "--fail-if", "p50 slower by 10%",
        "--fail-if", "errors above 1%", "--markdown", markdown, "--html", html,
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )  # fmt: skip
    assert result.returncode == 3, result.stdout + result.stderr
    found = words(result.stdout)
    # not the p99: over 5 s of ~100 req/s it is the 5th-latest request, and one second with a
    # few late ones on a busy machine (CI, 2026-12-05: base p99 117 ms against 104 ms) widens
    # its interval past 0 ([-73.5, +160] ms for +87): "same", honestly. The p50 needs half a
    # second's requests late to move.
    assert found["p50"] == found["mean"] == "slower", result.stdout
    assert found["errors"] == "same"
    assert "overall: slower" in result.stdout
    assert "\x1b[" not in result.stdout  # not a terminal: plain text
    assert "failed: /work @ 10u: p50 slower by 10%" in result.stderr
    assert "errors above" not in result.stderr
    text = markdown.read_text()
    assert text.startswith("### loadtui compare")
    assert re.search(r"\| p50 \| 1\d\d ms \| 2\d\d ms \| \+\d+\.?\d* ms \(\+\d+", text), text
    assert "**slower**" in text and "**Failed** (exit code 3)" in text
    assert summary.read_text() == "earlier step\n" + text + "\n"
    page = html.read_text()
    assert "<script" not in page and str(runs["slow"]) in page
    _check_page(html)


def _check_page(html: Path) -> None:
    if shutil.which("chromium") is None:
        pytest.fail("chromium is not installed: apt-get install chromium (make test installs it)")
    seen = visit(html.as_uri(), PAGE_FACTS)
    assert seen.errors == [] and seen.requests == [html.as_uri()]
    facts = seen.found
    assert facts["charts"] == 1 and facts["lines"] == 2  # both runs' spectra, overlaid
    assert facts["rows"] == 6 and "slower" in facts["words"]
    assert facts["title"] == "/work @ 10u: slower"


def test_the_same_build_twice_is_the_same_within_noise(runs):
    result = loadtui("compare", runs["base"], runs["again"], "--fail-if", "p50 slower by 20%")
    assert result.returncode == 0, result.stdout + result.stderr
    # p50 of a 0.10 s sleep: robust beside CPU hogs (a p99 on a busy 2-core machine is not)
    assert words(result.stdout)["p50"] == "same", result.stdout
    assert words(result.stdout)["req/s"] == "same", result.stdout
