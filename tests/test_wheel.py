"""The packaging (pyproject.toml): loadtui's wheel as a user gets it: built from the sources,
installed into a fresh virtualenv (its dependencies from the package index, through pip's cache),
and used from a project of the user's own whose FastAPI app lives in ``server.py``, the name that
once collided with the demo package."""

from __future__ import annotations

import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from loadtui.server.variants import find_variant

# one worker builds and installs once for every test here
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("wheel")]

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "loadtui", "server")
USER_APP = """\
from fastapi import FastAPI

from loadtui import instrument

app = FastAPI()
instrument(app)


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "world"}
"""


def run(*args: str | Path, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """A command with the environment of a user's shell: nothing of this checkout on its path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from a copy of the sources: a stale build/ directory in the checkout (setuptools
    keeps one) must not leak into the wheel under test."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, source]
    run(*command, cwd=source, timeout=120)
    (built,) = out.glob("loadtui-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding the wheel and its dependencies; returns its bin/."""
    home = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", home, cwd=home, timeout=60)
    pip = [home / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    run(*pip, wheel, cwd=home, timeout=150)
    return home / "bin"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's project: their app is server.py, and they run loadtui from beside it."""
    (tmp_path / "server.py").write_text(USER_APP)
    return tmp_path


def test_the_wheel_installs_loadtui_and_nothing_else(wheel: Path):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        assert archive.read(top_level).decode().split() == ["loadtui"]
        (record,) = [n for n in names if n.endswith(".dist-info/RECORD")]
        recorded = [line.split(",")[0] for line in archive.read(record).decode().splitlines()]
    assert {path.split("/")[0] for path in recorded} == {"loadtui", record.split("/")[0]}
    # every module and data file of the sources is in it: the package list in pyproject.toml
    # names each package, and one added later must not be left out
    expected = {
        f"loadtui/{path.relative_to(ROOT / 'loadtui')}"
        for path in (ROOT / "loadtui").rglob("*")
        if path.is_file() and path.suffix in (".py", ".tcss", ".json", ".css")
    } | {
        f"loadtui/server/{path.relative_to(ROOT / 'server')}"
        for path in (ROOT / "server").rglob("*.py")
    }
    assert expected <= set(recorded), sorted(expected - set(recorded))


def test_a_users_server_py_and_loadtui_get_along(venv: Path, project: Path):
    check = (
        "import loadtui, server\n"
        "from loadtui import instrument, mark_blocking\n"
        "print(loadtui.__file__)\n"
        "print(server.__file__)\n"
        "print(sorted(r.path for r in server.app.routes))\n"
        "print(type(server.app.state.loadtui).__name__)\n"
    )
    result = run(venv / "python", "-c", check, cwd=project, timeout=60)
    package, users_app, routes, instrumented = result.stdout.splitlines()
    assert Path(package).is_relative_to(venv.parent)  # the installed wheel, not this checkout
    assert Path(users_app) == project / "server.py"
    assert "/hello" in routes
    assert instrumented == "Instrumentation"  # instrument(app) took hold of the user's app


def test_loadtui_server_serves_the_demo(venv: Path, project: Path):
    proc = subprocess.Popen(
        [venv / "loadtui", "server", "--port", "0", "--metrics-port", "0"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=30), "loadtui server did not say it was ready"
        ready = proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+", ready)
        assert found and "metrics sidecar: http://127.0.0.1:" in ready, ready
        path = find_variant("5").path
        response = httpx.get(found.group() + path, timeout=10)
        assert response.status_code == 200 and response.json() == {"route": path}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) in (0, -signal.SIGTERM), proc.stderr.read()


def test_a_short_run(venv: Path, project: Path):
    args = ["run", "5", "--users", "10", "--duration", "3", "--json", "run.json"]
    result = run(venv / "loadtui", *args, cwd=project, timeout=60)
    assert "req/s" in result.stdout
    document = json.loads((project / "run.json").read_text())
    assert document["schema"] == "loadtui.run/1"
    assert document["summary"]["requests"] > 0 and document["summary"]["errors"] == 0


def test_the_wheel_declares_the_pytest_plugin(wheel: Path):
    """pytest finds the plugin wherever loadtui is installed: nothing to configure."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        entry_points = archive.read(name).decode()
    assert "[pytest11]\nloadtui = loadtui.testing.pytest_plugin\n" in entry_points
