"""loadtui.probe's fetches, without a server or a process: a URL beyond loopback is refused
before anything is sent."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from loadtui.probe import FetchError, Probe
from loadtui.targets.target import parse_target


def test_a_url_beyond_loopback_is_refused_before_anything_is_sent():
    target = parse_target("http://127.0.0.1:9", "/x")
    probe = Probe(target, print, print, print, print)

    async def fetch() -> None:
        async with httpx.AsyncClient() as client:
            await probe._get(client, "http://192.0.2.10:9100/identity", 5.0, 1000)

    started = time.perf_counter()
    with pytest.raises(FetchError, match="not a host loadtui may probe"):
        asyncio.run(fetch())
    # refused, not timed out connecting (5 s); wide for a busy machine
    assert time.perf_counter() - started < 2.0
