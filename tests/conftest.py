"""Fixtures shared by the tests: real servers (the demo, the apps of tests/apps.py) on free
loopback ports, stopped afterwards, and a disk that fills up."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from loadtui.targets.spawn import SpawnedServer
from tests.apps import COUNTER, LOGIN_APP, MODULE, SHOP, TEMPLATE, accepted, free_port, serve_app
from tests.helpers import wait_for


@pytest.fixture
def spawn_server() -> Iterator[Callable[..., SpawnedServer]]:
    """Start fresh demo servers (real uvicorn, free loopback ports); all stopped afterwards."""
    servers: list[SpawnedServer] = []

    def start(**kwargs: object) -> SpawnedServer:
        server = SpawnedServer.start(**kwargs)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def demo_server(spawn_server: Callable[..., SpawnedServer]) -> SpawnedServer:
    return spawn_server()


@pytest.fixture
def tiny_disk(tmp_path) -> Path:
    """A 256 kB tmpfs: a location that fills up."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[str]:
    """SHOP served by uvicorn: its URL."""
    with serve_app(SHOP, tmp_path, ready_path="/count") as app:
        yield app.url


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """TEMPLATE (routes and document under /api/v1) served by uvicorn, one for a test module:
    its URL (the server's root). Its counts grow from test to test: read them as differences."""
    with serve_app(TEMPLATE, tmp_path_factory.mktemp("template")) as app:
        yield app.url


@pytest.fixture
def tls_shop(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """SHOP served by uvicorn over https, with a certificate of a CA made here: its URL and
    the CA's certificate."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    pem, ca_pem = tmp_path / "server.pem", tmp_path / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(pem))
    ca.cert_pem.write_to_path(str(ca_pem))
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / f"{MODULE}.py").write_text(textwrap.dedent(SHOP))
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", f"{MODULE}:app", "--app-dir", str(tmp_path / "app"),
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        "--ssl-keyfile", str(pem), "--ssl-certfile", str(pem),
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"https://127.0.0.1:{port}"

    def answers() -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return accepted(url, ca_pem) is not None
        return False

    try:
        assert wait_for(answers, timeout=30, interval=0.2), "the https server did not start"
        yield url, ca_pem
    finally:
        proc.kill()
        proc.wait(5)


@pytest.fixture
def counter(tmp_path: Path) -> Iterator[str]:
    """COUNTER served by uvicorn: its URL."""
    with serve_app(COUNTER, tmp_path, ready_path="/count") as app:
        yield app.url


@pytest.fixture
def login_app(tmp_path: Path) -> Iterator[str]:
    """LOGIN_APP (an OAuth2 password-form login, a token per login) served by uvicorn: its URL."""
    with serve_app(LOGIN_APP, tmp_path, ready_path="/count") as app:
        yield app.url
