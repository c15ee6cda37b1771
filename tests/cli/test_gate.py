"""loadtui.run.gate through loadtui.cli.headless, end to end: `loadtui run` and `loadtui matrix`
with --threshold and --fail-on on real demo servers: exit 3 with each breach on one line, the run
file and summary still written, the step summary appended for GitHub Actions."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtui.run import runfile
from tests.helpers import loadtui

pytestmark = pytest.mark.e2e


def test_a_breached_run_writes_its_file_prints_its_summary_and_exits_3(tmp_path: Path):
    out, summary = tmp_path / "run.json", tmp_path / "summary.md"
    result = loadtui(
        *("run", "4", "--users", "5", "--duration", "3", "--json", str(out)),
        *("--threshold", "p99<300ms", "--threshold", "errors==0", "--threshold", "rps>0.1"),
        *("--fail-on", "event_loop_blocked"),
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert result.returncode == 3, result.stderr
    doc = runfile.load(out)
    assert doc.gate is not None and not doc.gate.passed
    assert [(o.threshold.text, o.passed) for o in doc.gate.thresholds] == [
        ("p99<300ms", False),  # every request waits behind 0.2 s of blocking
        ("errors==0", True),
        ("rps>0.1", True),
    ]
    assert doc.gate.matched == ["event_loop_blocked"]
    assert "\ngate\n" in result.stdout and f"run file   {out}" in result.stdout
    breaches = [line for line in result.stderr.splitlines() if line.startswith("loadtui run: ")]
    assert len(breaches) == 2, result.stderr
    assert breaches[0].startswith("loadtui run: p99<300ms breached: p99 ")
    assert breaches[1].startswith(
        "loadtui run: verdict event_loop_blocked [critical] matched --fail-on event_loop_blocked"
    )
    assert "sync_inner_function" in breaches[1]
    text = summary.read_text()
    assert text.startswith("### loadtui run\n") and "**Breached** (exit code 3)" in text
    assert "| 4@5u | p99<300ms |" in text


def test_a_run_that_passes_exits_0_even_when_the_step_summary_cannot_be_written(tmp_path):
    out = tmp_path / "run.json"
    result = loadtui(
        *("run", "0", "--users", "3", "--duration", "2", "--json", str(out)),
        *("--threshold", "p99<5s", "--threshold", "errors<1%", "--fail-on", "critical"),
        env={"GITHUB_STEP_SUMMARY": str(tmp_path / "missing" / "summary.md")},
    )
    assert result.returncode == 0, result.stderr
    gate = runfile.load(out).gate
    assert gate is not None and gate.passed and gate.fail_on == ["critical"]
    problems = [line for line in result.stderr.splitlines() if line.startswith("loadtui run:")]
    assert problems == [
        f"loadtui run: cannot append to GITHUB_STEP_SUMMARY ({tmp_path}/missing/summary.md): "
        "No such file or directory"
    ]


def test_matrix_judges_every_run_and_exits_3_naming_the_runs(tmp_path):
    result = loadtui(
        *("matrix", "--routes", "0", "--users", "2,3", "--duration", "2", "--out", str(tmp_path)),
        *("--threshold", "rps>100000", "--threshold", "stalls==0"),
    )
    assert result.returncode == 3, result.stderr
    files = sorted(tmp_path.glob("*/route-*.json"))
    assert len(files) == 2
    assert all(not runfile.load(f).gate.passed for f in files)  # type: ignore[union-attr]
    breaches = [line for line in result.stderr.splitlines() if "breached" in line]
    assert [line.split(": ")[1] for line in breaches if "rps>" in line] == ["0@2u", "0@3u"]
    assert "\ngate\n" in result.stdout
