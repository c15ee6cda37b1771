"""The layers, as imports (pyproject.toml's [tool.importlinter] contracts; README, Development).

Static, in the unit tier: import-linter reads every module and checks the contracts (the layers
from the CLI down to the engine; the engine, report/ and run/, and the TUI each kept from what
they must not import).

At run time, in the e2e tier: each command and the engine run for real in a process of their own,
which then says which modules it loaded.

- `loadtui report` reads files: no TUI, no HTTP client, no probe, no server framework, no engine.
- The engine (workers, transport, hdr) measures: no run model, no verdicts or run file, no UI,
  no probe.
- `loadtui --help` and `loadtui routes` print text: no TUI, no server framework.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from multiprocessing.connection import Connection
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from loadtui.engine.messages import EngineFailed, EngineFinished, IntervalSnapshot
from loadtui.engine.plan import LoadPlan
from loadtui.targets.spawn import SpawnedServer
from tests.helpers import engine_config

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_hold(monkeypatch: pytest.MonkeyPatch):
    from importlinter.cli import lint_imports

    monkeypatch.chdir(ROOT)  # where pyproject.toml names the contracts
    assert lint_imports(no_cache=True, no_logo=True) == 0, "an import contract is broken (above)"


REPORT_FORBIDDEN = (
    "textual",
    "httpx",
    "psutil",
    "prometheus_client",
    "fastapi",
    "starlette",
    "uvicorn",
    "loadtui.workers",
    "loadtui.engine.transport",
    "loadtui.probe",
    "loadtui.fleet",
    "loadtui.run.runner",
    "loadtui.app",
    "loadtui.tui",
)
ENGINE_FORBIDDEN = (
    "textual",
    "httpx",
    "pydantic",
    "loadtui.run",
    "loadtui.probe",
    "loadtui.probing",
    "loadtui.app",
    "loadtui.tui",
    "loadtui.report",
    "loadtui.cli",
)
TEXT_FORBIDDEN = ("textual", "fastapi", "starlette", "uvicorn", "httpx", "prometheus_client")

# Runs loadtui's main() once per argv given, then writes the names in sys.modules to a file.
CLI = """
import json, sys
from loadtui.cli.main import main
*argvs, out = sys.argv[1:]
codes = []
for argv in argvs:
    try:
        codes.append(main(json.loads(argv)))
    except SystemExit as exit:  # --help, --version
        codes.append(exit.code)
with open(out, "w") as f:
    json.dump({"codes": codes, "modules": sorted(sys.modules)}, f)
"""

# The engine process's own entry point, then the names in its sys.modules on stdout.
ENGINE = """
import json, sys
from loadtui.workers import engine_main
engine_main(int(sys.argv[1]))
print(json.dumps(sorted(sys.modules)))
"""


def among(modules: Iterable[str], forbidden: Iterable[str]) -> list[str]:
    """The forbidden packages that are loaded, themselves or a module inside them."""
    return sorted({f for m in modules for f in forbidden if m == f or m.startswith(f + ".")})


def cli_modules(tmp_path: Path, *argvs: list[str]) -> list[str]:
    out = tmp_path / "modules.json"
    args = [json.dumps([str(a) for a in argv]) for argv in argvs]
    result = subprocess.run(
        [sys.executable, "-c", CLI, *args, out],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(out.read_text())
    assert seen["codes"] == [0] * len(argvs), result.stderr
    return seen["modules"]


@pytest.fixture(scope="module")
def run_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("run") / "run.json"
    command = [sys.executable, "-m", "loadtui", "run", "5", "--users", "5", "--duration", "2"]
    result = subprocess.run([*command, "--json", path], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return path


@pytest.mark.e2e
def test_report_loads_no_tui_probe_http_client_server_or_engine(run_file: Path, tmp_path: Path):
    modules = cli_modules(
        tmp_path,
        ["report", run_file, "--markdown"],
        ["report", run_file, "--merge", "--html", tmp_path / "report.html"],
        ["report", run_file, "--csv", tmp_path / "runs.csv", "--hdr-log", tmp_path / "hdr"],
    )
    assert "loadtui.report.html" in modules  # the report did run
    assert among(modules, REPORT_FORBIDDEN) == []


@pytest.mark.e2e
@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["routes"]])
def test_text_commands_load_no_tui_or_server_framework(argv: list[str], tmp_path: Path):
    assert among(cli_modules(tmp_path, argv), TEXT_FORBIDDEN) == []


@pytest.mark.e2e
def test_the_engine_loads_no_model_ui_or_probe(demo_server: SpawnedServer):
    target = urlsplit(demo_server.url)
    plan = LoadPlan(users=2, spawn_rate=100, duration_s=1.5, think_s=(0.05, 0.1))
    config = engine_config(str(target.hostname), int(target.port or 80), "/ping", plan, 0.5)
    ours, theirs = socket.socketpair()
    with theirs:
        engine = subprocess.Popen(
            [sys.executable, "-c", ENGINE, str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    with Connection(ours.detach()) as conn:
        conn.send(config)
        messages: list[object] = []
        deadline = time.monotonic() + 30
        while not messages or not isinstance(messages[-1], EngineFinished | EngineFailed):
            assert conn.poll(max(0.0, deadline - time.monotonic())), "the engine fell silent"
            messages.append(conn.recv())
        stdout, stderr = engine.communicate(timeout=10)
    assert isinstance(messages[-1], EngineFinished), messages[-1]
    assert sum(m.requests for m in messages if isinstance(m, IntervalSnapshot)) > 0
    assert engine.returncode == 0, stderr
    modules = json.loads(stdout)
    assert {"loadtui.workers", "loadtui.engine.transport", "loadtui.engine.hdr"} <= set(modules)
    assert among(modules, ENGINE_FORBIDDEN) == []
