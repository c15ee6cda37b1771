from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from loadtui.targets.spawn import SpawnedServer


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
