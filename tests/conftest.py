from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from loadtui.spawn import SpawnedServer


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
