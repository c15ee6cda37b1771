"""loadtui.run.rundoc and loadtui.run.runfile: the run document defined once: the shipped schema is
the models', files of the first release still load, and every bad file or output is one line
(tests/fixtures holds files written by loadtui 0.1.0)."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import signal
import stat
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

from loadtui.cli.main import main
from loadtui.engine import hdr
from loadtui.report import tables
from loadtui.run import document, runfile, verdicts
from loadtui.run.atomic import write_text_atomic
from loadtui.run.rundoc import SCHEMA_PATH, RunDocument, schema_text
from tests.helpers import fill
from tests.synthetic import model, stall

FIXTURES = Path(__file__).parents[1] / "fixtures"
CLOSED, OPEN = FIXTURES / "run-0.1.0-closed.json", FIXTURES / "run-0.1.0-open.json"


def report(*args: str | Path) -> tuple[int, str, str]:
    """`loadtui report ...` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["report", *map(str, args)])
    return code, out.getvalue(), err.getvalue()


def raw(path: Path = CLOSED) -> dict:
    return json.loads(path.read_text())


def write(path: Path, value: dict | str) -> Path:
    path.write_text(value if isinstance(value, str) else json.dumps(value))
    return path


# ---- one definition ---------------------------------------------------------------------------
def test_the_shipped_schema_is_generated_from_the_models():
    assert SCHEMA_PATH.read_text() == schema_text(), "run `python -m loadtui.run.rundoc`"


@pytest.mark.parametrize("path", [CLOSED, OPEN])
def test_files_of_the_first_release_still_load_and_report(path):
    doc = runfile.load(path)
    assert doc.tool.version == "0.1.0" and doc.summary.requests > 0
    assert RunDocument.model_validate_json(doc.to_json()) == doc
    # it did not record the requests still waiting at the end: not known, so not shown
    assert doc.summary.in_flight_at_end is None and doc.timeline[-1].oldest_in_flight_s is None
    assert "still waiting" not in tables.run_summary(doc)
    assert tables.route_label(doc) in tables.comparison_table([doc])
    code, out, err = report(path)
    assert code == 0 and err == "" and tables.route_label(doc) in out


def test_a_built_document_round_trips_through_its_file(tmp_path):
    run = model(5, stalls=[stall(1, 1.5, "blocking_call")])
    built = document.build(run, verdicts.compute(run))
    runfile.write(tmp_path / "run.json", built)
    loaded = runfile.load(tmp_path / "run.json")
    assert loaded == built
    assert [s.culprit for s in loaded.server.stalls] == ["blocking_call"]
    assert loaded.verdicts[0].code == "event_loop_blocked"


# ---- bad files: one line naming the file, exit 2, within a second -----------------------------
def _edited(**changes: object) -> dict:
    doc = raw()
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = doc
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[last] = value
    return doc


def _other_range_histogram() -> str:
    """An 85 kB-ish histogram of another range and precision (hdrh would take ~90 s)."""
    other = HdrHistogram(1, 10**15, 5)
    for value in range(1, 10**15, 10**15 // 40_000):
        other.record_value(value)
    return other.encode().decode()


def _zip_bomb() -> str:
    """loadtui's range in the header, 64 MB of zeros behind it, claiming 16 bytes."""
    header = struct.pack(">IIIIQQd", 0x1C849313, 16, 0, 3, 1, 3_600_000_000, 1.0)
    packed = zlib.compress(header + bytes(64 * 1024 * 1024), 9)
    return base64.b64encode(struct.pack(">II", 0x1C849314, len(packed)) + packed).decode()


def _overrun() -> str:
    """loadtui's range in the header, then counts that run past the end of its array."""
    varints = _varint(-23552) + _varint(7)  # 23,552 zeros (the whole array), then a count
    header = struct.pack(">IIIIQQd", 0x1C849313, len(varints), 0, 3, 1, 3_600_000_000, 1.0)
    packed = zlib.compress(header + varints)
    return base64.b64encode(struct.pack(">II", 0x1C849314, len(packed)) + packed).decode()


def _varint(value: int) -> bytes:
    """HdrHistogram's ZigZag LEB128."""
    zigzag, out = (value << 1) ^ (value >> 63), b""
    while zigzag > 0x7F:
        out += bytes([zigzag & 0x7F | 0x80])
        zigzag >>= 7
    return out + bytes([zigzag])


BAD = {
    "a 400-digit integer": lambda: json.dumps(raw()).replace(
        '"rps": ', '"rps": 1' + "0" * 400 + ', "_": ', 1
    ),
    "1e400": lambda: json.dumps(raw()).replace('"rps": ', '"rps": 1e400, "_": ', 1),
    "null where a number is needed": lambda: _edited(summary__requests=None),
    "open loop without its rate": lambda: json.dumps(
        {**raw(OPEN), "load": {**raw(OPEN)["load"], "rate": None}}
    ),
    "t of 1e309": lambda: json.dumps(raw()).replace('"t": ', '"t": 1e309, "_": ', 1),
    "NaN": lambda: json.dumps(raw()).replace('"rps": ', '"rps": NaN, "_": ', 1),
    "think_s reversed": lambda: _edited(load__think_s=[0.5, 0.1]),
    "a histogram of another range": lambda: _edited(histogram__data=_other_range_histogram()),
    "a zip bomb": lambda: _edited(histogram__data=_zip_bomb()),
    "an interval that does not decode": lambda: _edited(timeline__0__hdr="not base64 at all"),
    "counts past the end of the array": lambda: _edited(timeline__0__hdr=_overrun()),
    "an unknown severity": lambda: _edited(verdicts__0__severity="fatal"),
    "a naive timestamp": lambda: _edited(started_at="2026-11-24T10:00:00"),
}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_file_is_one_line_within_a_second(case, tmp_path):
    bad = tmp_path / "bad\x1b[31m.json"  # the name is shown as text too
    content = BAD[case]()
    write(bad, content)
    started = time.perf_counter()
    code, out, err = report(CLOSED, bad, "--html", tmp_path / "out.html")
    assert time.perf_counter() - started < 1.0
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and "\x1b" not in err
    assert "bad\\x1b[31m.json" in err
    assert not (tmp_path / "out.html").exists()


def test_a_fifo_and_a_device_are_refused_without_reading(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    for path in (fifo, zero):
        started = time.perf_counter()
        code, _, err = report(path)
        assert time.perf_counter() - started < 1.0
        assert code == 2 and err.strip().endswith(f"{path}: not a regular file")


def test_an_output_that_is_an_input_is_refused(tmp_path):
    copy = write(tmp_path / "run.json", CLOSED.read_text())
    for option, what in (("--html", "the HTML report"), ("--csv", "the CSV")):
        code, out, err = report(copy, option, copy)
        assert code == 2 and out == ""
        assert err.splitlines() == [
            f"loadtui report: error: {what} {copy} is one of the run files read"
        ]
        assert copy.read_text() == CLOSED.read_text()


@pytest.mark.e2e  # a real tmpfs
def test_a_disk_that_fills_while_the_report_is_written_is_one_line(tiny_disk):
    runs = tiny_disk.parent / "runs"
    runs.mkdir()
    for number in range(12):
        write(
            runs / f"run-{number}.json",
            CLOSED.read_text().replace('"run_id": "', f'"run_id": "{number}', 1),
        )
    fill(tiny_disk, leave=100_000)  # room for the check (64 kB), not for the report
    out = tiny_disk / "report.html"
    code, stdout, err = report(runs, "--html", out)
    assert code == 1 and stdout.count("\n") > 12  # the table was printed
    assert err.splitlines() == [
        f"loadtui report: could not write the HTML report {out}: No space left on device"
    ]
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["ballast"]  # no half file


# Runs its arguments as typed at a terminal. A shell without job control starts background jobs
# (`make test &`) with SIGINT ignored; a child inherits that and Python honours it (no Ctrl-C).
AS_TYPED = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])
"""


@pytest.mark.e2e  # a real process, a real signal
def test_ctrl_c_during_a_report_is_exit_130_without_a_traceback(tmp_path):
    for number in range(1500):  # a table larger than a pipe holds: the report blocks on it
        write(tmp_path / f"run-{number}.json", OPEN.read_text())
    process = subprocess.Popen(
        [sys.executable, "-c", AS_TYPED, sys.executable, "-m", "loadtui", "report", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    process.stdout.read(1)  # the table has begun: loadtui is running, not starting
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert b"Traceback" not in stderr and b"KeyboardInterrupt" not in stderr


# ---- what reports show and write ----------------------------------------------------------------
def _hostile(tmp_path: Path) -> Path:
    doc = raw()
    doc["target"]["route"] = '=HYPERLINK("http://x")\x1b]0;owned\x07'
    doc["target"]["variant"] = None
    doc["verdicts"][0]["message"] = "blocked \x1b[2J\x1b[31mred\u202e"
    return write(tmp_path / "hostile.json", doc)


def test_strings_from_run_files_are_shown_as_text(tmp_path):
    hostile = _hostile(tmp_path)
    code, out, err = report(hostile, "--markdown")
    assert code == 0 and err == ""
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "\\x1b[2J" in out or "\\x1b]0;owned" in out


def test_csv_cells_that_would_run_as_formulas_are_neutralised(tmp_path):
    out = tmp_path / "stats.csv"
    code, _, _ = report(_hostile(tmp_path), "--csv", out)
    assert code == 0
    route = out.read_text().splitlines()[1].split(",")[0]
    assert route.startswith("\"'=HYPERLINK") or route.startswith("'=HYPERLINK")


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_get_the_usual_mode(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        write_text_atomic(tmp_path / "file.json", "{}")
        code, _, _ = report(CLOSED, "--html", tmp_path / "r.html", "--csv", tmp_path / "r.csv")
    finally:
        os.umask(previous)
    assert code == 0
    for name in ("file.json", "r.html", "r.csv"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name


def test_hdr_logs_keep_the_first_interval_whatever_the_start_time(tmp_path):
    """A start time of x.1775 s once rounded up to x.178 put the first interval before it."""
    doc = raw()
    doc["started_at"] = "2026-11-24T18:27:15.177500+00:00"
    source = write(tmp_path / "run.json", doc)
    code, _, _ = report(source, "--hdr-log", tmp_path / "logs")
    assert code == 0
    reader = HistogramLogReader(str(tmp_path / "logs" / "run.hlog"), hdr.new_histogram())
    counts = [h.get_total_count() for h in iter(reader.get_next_interval_histogram, None)]
    assert counts == [entry["requests"] for entry in doc["timeline"]]
