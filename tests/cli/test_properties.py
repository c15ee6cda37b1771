"""loadtui.cli.options and loadtui.run.runfile, property-based: no command line and no run file
crashes loadtui.

Arguments: any mix of commands, options and values either parses and passes the checks, or
ends in argparse's exit 2 / UsageError (one line, exit 2), never another exception. Nothing
runs: only parsing and loadtui.cli.options, which send, start and write nothing.

Run files: any JSON, and any mutation of a real run document (keys dropped, values replaced,
text truncated or corrupted), either loads and renders, or raises RunFileError.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadtui.cli import options
from loadtui.cli.parser import build_parser
from loadtui.engine.plan import LoadPlan
from loadtui.exits import UsageError
from loadtui.report import tables
from loadtui.run import document, runfile, verdicts
from loadtui.run.runfile import RunFileError
from loadtui.run.spec import RunSpec
from tests.fake_feed import FakeRun

COMMANDS = ["run", "matrix", "capacity", "report", "compare", "server", "routes"]
OPTIONS = [
    "--users", "--spawn-rate", "--duration", "--think-min", "--think-max", "--rate",
    "--target", "--timeout", "--threads", "--routes", "--route", "--port", "--metrics-port",
    "--host", "--drain", "--allow-remote", "--markdown", "--merge", "--json", "--out", "--metrics",
    "-X", "-H", "-d", "--expect", "--data-file", "--data-order", "--scenario", "-k", "--cacert",
    "--engines", "--ray", "--data-urlencode", "-F", "--openapi", "--slo", "--min-rate",
    "--max-rate", "--step", "--ramp-step", "--resolution", "--fail-if", "--seed",
    "--allow-different-load",
]  # fmt: skip
VALUES = [
    "0", "1", "-1", "10", "nan", "inf", "-inf", "1e309", "0.0", "", " ", "5", "4r", "/ping",
    "10,40,100", "5,zz", "http://127.0.0.1:1", "http://10.0.0.1:80", "https://localhost",
    "http://[::1]:8000", "http://127.0.0.1:99999", "localhost:8000", "ftp://x", "65535",
    "auto", "local", "p99<1s", "p99<0ms", "orders.p99<=5us",
]  # fmt: skip
TOKENS = st.one_of(
    st.sampled_from(COMMANDS + OPTIONS + VALUES),
    st.text(max_size=12),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers().map(str),
)


def _capacity(args):
    options.capacity_run(args)
    options.slos(args)
    options.capacity_bounds(args)


PREPARE = {
    "run": options.run_spec,
    "capacity": _capacity,
    "matrix": options.matrix_plan,
    "server": options.server_options,
    None: options.tui_config,
}


@settings(max_examples=300, deadline=None)
@given(st.lists(TOKENS, max_size=8))
def test_no_command_line_crashes(argv):
    parser = build_parser()
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try:
            args = parser.parse_args(argv)
        except SystemExit as exit:
            assert exit.code in (0, 2)
            return
    check = PREPARE.get(args.command)
    if check is not None:
        with contextlib.suppress(UsageError):
            check(args)


def real_document() -> dict:
    run = FakeRun(RunSpec("4", LoadPlan(users=10, duration_s=None)), lambda *_: None)
    run.start()
    run.stop()
    built = document.build(run.model, verdicts.compute(run.model))
    return json.loads(built.to_json())


DOCUMENT = real_document()
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            yield from _paths(item, (*prefix, index))


ALL_PATHS = [p for p in _paths(DOCUMENT) if p]


def _mutate(document: dict, path: tuple, replacement, delete: bool) -> dict:
    mutated = copy.deepcopy(document)
    parent = mutated
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return mutated


def _load_and_render(tmp_path: Path, text: str | bytes) -> None:
    path = tmp_path / "run.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    try:
        document = runfile.load(path)
    except RunFileError as error:
        assert str(path) in str(error) and "\n" not in str(error)
        return
    tables.run_summary(document)
    tables.comparison_table([document])


FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),  # more by hand: FUZZ_EXAMPLES=5000
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@FUZZ
@given(JSON)
def test_any_json_is_rejected_in_one_line(tmp_path, value):
    _load_and_render(tmp_path, json.dumps(value))


@FUZZ
@given(st.sampled_from(ALL_PATHS), JSON, st.booleans())
def test_mutated_run_documents_load_or_are_rejected(tmp_path, path, replacement, delete):
    if delete and isinstance(path[-1], int):
        delete = False
    _load_and_render(tmp_path, json.dumps(_mutate(DOCUMENT, path, replacement, delete)))


@FUZZ
@given(st.integers(min_value=0), st.binary(max_size=4))
def test_truncated_or_corrupted_bytes_are_rejected(tmp_path, position, junk):
    text = json.dumps(DOCUMENT).encode()
    cut = position % len(text)
    _load_and_render(tmp_path, text[:cut] + junk)
