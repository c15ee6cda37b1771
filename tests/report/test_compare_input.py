"""`loadtui compare` on run files written here (synthetic runs, no process or socket): every bad
input is one line and exit 2 before any work, differing loads are refused or (when allowed)
compared under a line saying how they differ, directories are matched by route and requests,
and names from files are shown as text."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from loadtui.cli.main import main
from loadtui.engine import hdr
from loadtui.engine.plan import LoadPlan
from loadtui.engine.schedule import Stage
from loadtui.run import document, runfile
from loadtui.run.rundoc import Histogram, LatencyMs, RequestStats, RunDocument
from tests import synthetic


def run_document(
    scale_ms: float = 100.0, users: int = 10, seconds: int = 5, plan: LoadPlan | None = None
) -> RunDocument:
    rng = random.Random(scale_ms * 1000 + users)
    per_second = [
        synthetic.snapshot(s, [rng.lognormvariate(0.0, 0.2) * scale_ms for _ in range(30)])
        for s in range(1, seconds + 1)
    ]
    plan = plan or LoadPlan(users=users, duration_s=seconds)
    return document.build(synthetic.model(seconds, per_second=per_second, plan=plan))


def write(path: Path, doc: RunDocument) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    runfile.write(path, doc)
    return path


def compare(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main(["compare", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, out: str, err: str) -> str:
    assert code == 2 and out == "", (code, out, err)
    assert err.count("\n") == 1 and err.startswith("loadtui compare: error: "), err
    return err


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return write(tmp_path / "base.json", run_document())


def test_loads_that_differ_are_refused_with_one_line(base, tmp_path, capsys):
    other = write(tmp_path / "other.json", run_document(users=20, seconds=8))
    err = one_line_error(*compare(capsys, base, other))
    assert "the loads differ: users 10 vs 20, duration 5 s vs 8 s" in err
    assert "--allow-different-load" in err


def test_ramps_that_differ_are_different_loads_though_their_highest_rate_is_one(tmp_path, capsys):
    def ramp(start: float) -> Path:
        stages = (Stage(start, 100.0, 5.0),)
        plan = LoadPlan(mode="open", users=10, rate=100.0, duration_s=5, stages=stages)
        return write(tmp_path / f"ramp-{start:g}.json", run_document(plan=plan))

    err = one_line_error(*compare(capsys, ramp(10.0), ramp(50.0)))
    assert "the loads differ: rate 10:100@5s vs 50:100@5s" in err


def test_allowed_different_loads_are_compared_under_that_line(base, tmp_path, capsys):
    other = write(tmp_path / "other.json", run_document(scale_ms=150.0, users=20))
    code, out, _ = compare(capsys, base, other, "--allow-different-load")
    assert code == 0
    assert out.splitlines()[0] == "/x @ 10u: the loads differ: users 10 vs 20"
    assert "overall: slower" in out


def test_a_run_compared_with_itself_is_refused(base, tmp_path, capsys):
    err = one_line_error(*compare(capsys, base, base))
    assert "a run compared with itself (the same file)" in err
    copy = tmp_path / "copy.json"
    copy.write_text(base.read_text())
    err = one_line_error(*compare(capsys, base, copy))
    assert "the same run as" in err and "run_id" in err


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{not json", "not JSON"),
        ('{"schema": "loadtui.run/2"}', "schema loadtui.run/2 is not supported"),
        ('{"schema": "other/1"}', "not a loadtui run file"),
        ('{"schema": "loadtui.run/1", "summary": 3}', "invalid run file"),
    ],
)
def test_files_that_do_not_load_are_refused(base, tmp_path, capsys, content, says):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    assert says in one_line_error(*compare(capsys, base, bad))
    assert says in one_line_error(*compare(capsys, bad, base))


def test_directories_with_no_runs_or_a_file_beside_a_directory_are_refused(base, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    other = tmp_path / "other"
    write(other / "run.json", run_document())
    assert "no run files" in one_line_error(*compare(capsys, empty, other))
    assert "two run files or two directories" in one_line_error(*compare(capsys, base, other))
    missing = tmp_path / "missing.json"
    assert "cannot read" in one_line_error(*compare(capsys, base, missing))


@pytest.mark.parametrize(
    ("condition", "says"),
    [
        ("p99 slower", "expected e.g."),
        ("p99 faster by 10%", "expected e.g."),
        ("rps slower by 5ms", "req/s changes are given in %"),
        ("errors above 100%", "never holds"),
        ("p50 slower by 1e400%", "expected e.g."),
    ],
)
def test_a_fail_if_that_does_not_parse_is_refused_before_any_work(
    base, tmp_path, capsys, condition, says
):
    missing = tmp_path / "never-read.json"  # the condition is checked first
    assert says in one_line_error(*compare(capsys, base, missing, "--fail-if", condition))


def test_an_output_that_cannot_be_written_is_refused(base, tmp_path, capsys):
    other = write(tmp_path / "other.json", run_document(scale_ms=101.0))
    err = one_line_error(*compare(capsys, base, other, "--markdown", base))
    assert "is one of the run files read" in err
    blocked = tmp_path / "file"
    blocked.write_text("")
    err = one_line_error(*compare(capsys, base, other, "--html", blocked / "page.html"))
    assert "cannot write" in err


def test_directories_are_matched_by_route_and_requests(tmp_path, capsys):
    before, after = tmp_path / "main", tmp_path / "branch"
    for users in (10, 40):
        write(before / f"route-x-{users}u.json", run_document(users=users))
        write(after / f"route-x-{users}u.json", run_document(scale_ms=130.0, users=users))
    write(before / "route-x-99u.json", run_document(users=99))
    code, out, err = compare(capsys, before, after, "--fail-if", "p50 slower by 20%")
    assert code == 3
    assert [line for line in out.splitlines() if line.startswith("/x @")] == [
        f"/x @ 10u: {before / 'route-x-10u.json'} -> {after / 'route-x-10u.json'}",
        f"/x @ 40u: {before / 'route-x-40u.json'} -> {after / 'route-x-40u.json'}",
    ]
    assert out.count("overall: slower") == 2
    assert f"only in {before}: /x @ 99u" in err
    assert "failed: /x @ 10u: p50 slower by 20%" in err


def test_fail_if_holds_only_beyond_noise_and_the_limit(base, tmp_path, capsys):
    slower = write(tmp_path / "slower.json", run_document(scale_ms=130.0))
    assert compare(capsys, base, slower, "--fail-if", "p50 slower by 20%")[0] == 3
    assert compare(capsys, base, slower, "--fail-if", "p50 slower by 40%")[0] == 0
    assert compare(capsys, base, slower, "--fail-if", "p50 slower by 10ms")[0] == 3
    assert compare(capsys, base, slower, "--fail-if", "rps slower by 5%")[0] == 0
    faster = write(tmp_path / "faster.json", run_document(scale_ms=70.0))
    code, out, _ = compare(capsys, base, faster, "--fail-if", "p99 slower by 1%")
    assert code == 0 and "overall: faster" in out


def test_markdown_html_and_the_job_summary_show_names_as_text(tmp_path, capsys, monkeypatch):
    hostile = "/x|<script>alert(1)</script>\x1b[31m"
    docs = [
        run_document().model_copy(
            update={"target": run_document().target.model_copy(update={"route": hostile})}
        ),
        run_document(scale_ms=140.0),
    ]
    docs[1] = docs[1].model_copy(update={"target": docs[0].target})
    base = write(tmp_path / "a.json", docs[0])
    new = write(tmp_path / "b.json", docs[1])
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    page = tmp_path / "page.html"
    code, out, _ = compare(capsys, base, new, "--markdown", "-", "--html", page)
    assert code == 0
    html = page.read_text()
    assert "<script" not in html and "\x1b" not in html
    assert "/x|&lt;script&gt;alert(1)&lt;/script&gt;\\x1b[31m @ 10u: slower</h2>" in html
    assert "\x1b" not in out  # the escape is shown as text, never sent to the terminal
    assert "/x|<script>alert(1)</script>\\x1b[31m @ 10u" in out  # the table: plain text
    markdown = summary.read_text()
    assert markdown.strip() in out  # the same Markdown on stdout and in the summary
    assert "\\|&lt;script&gt;alert(1)&lt;/script&gt;\\\\x1b\\[31m" in markdown
    table = [line for line in markdown.splitlines() if line.startswith("| p50 |")]
    assert len(table) == 1 and table[0].endswith("| **slower** |")
    json.loads(base.read_text())  # the inputs are untouched


def with_mix(doc: RunDocument, scales: dict[str, float], seed: int) -> RunDocument:
    """The run as a mix of named requests, 300 each, log-normal around their scale."""
    rng = random.Random(seed)
    named = []
    for name, scale in scales.items():
        histogram = hdr.new_histogram()
        for _ in range(300):
            hdr.record_us(histogram, int(rng.lognormvariate(0.0, 0.2) * scale * 1000))
        named.append(
            RequestStats(
                name=name,
                method="GET",
                path=f"/{name}",
                requests=300,
                errors=0,
                rps=300 / doc.summary.duration_s,
                latency_ms=LatencyMs.of(hdr.summarize(histogram)),
                histogram=Histogram(data=hdr.encode(histogram)),
            )
        )
    return doc.model_copy(update={"requests": named})


def test_each_request_of_a_mix_is_compared_too(tmp_path, capsys):
    base = write(tmp_path / "a.json", with_mix(run_document(), {"list": 50, "buy": 200}, 1))
    new = write(tmp_path / "b.json", with_mix(run_document(), {"list": 50, "buy": 300}, 2))
    code, out, _ = compare(capsys, base, new, "--markdown", tmp_path / "c.md")
    assert code == 0
    lines = out.splitlines()
    assert "  each request (as independent requests):" in lines
    assert "  list: same" in lines and "  buy: slower" in lines
    buy = lines[lines.index("  buy: slower") + 1 :]
    p50 = next(line for line in buy if line.startswith("    p50"))
    assert p50.endswith("slower") and re.search(r" \(\+(4[5-9]|5[0-5])\.\d%\) ", p50), p50
    assert "*buy* (as independent requests): **slower**" in (tmp_path / "c.md").read_text()


def test_words_are_coloured_on_a_terminal_unless_no_color(monkeypatch):
    from loadtui.report import compare_command, compare_out
    from loadtui.report.compare import Change

    change = Change("p99", 100.0, 150.0, 40.0, 60.0, "slower")
    section = compare_out.Section("/x @ 10u", "a.json", "b.json", [change], "slower")
    assert "\x1b[31mslower\x1b[0m" in compare_out.text([section], colour=True)
    assert "\x1b" not in compare_out.text([section], colour=False)
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert compare_command._colour()
    monkeypatch.setenv("NO_COLOR", "1")
    assert not compare_command._colour()
