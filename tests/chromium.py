"""Headless Chromium driven over the DevTools protocol: open a page, say what it did.

Nothing leaves the machine: host names resolve nowhere, any request goes to a closed port on
127.0.0.1, and the DevTools socket is on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
    "--remote-debugging-port=0",
)


@dataclass
class Visit:
    """What a page did while it loaded, and what ``expression`` found in it afterwards."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    found: Any = None


class _Devtools:
    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, session: str | None = None, **params: Any) -> dict:
        message: dict[str, Any] = {"id": next(self.ids), "method": method, "params": params}
        if session:
            message["sessionId"] = session
        await self.socket.send(json.dumps(message))
        while True:
            reply = json.loads(await self.socket.recv())
            if reply.get("id") != message["id"]:
                self.events.append(reply)
            elif "error" in reply:
                raise RuntimeError(f"{method}: {reply['error']}")
            else:
                return reply.get("result", {})

    async def wait_for(self, method: str) -> None:
        while not any(event.get("method") == method for event in self.events):
            self.events.append(json.loads(await self.socket.recv()))


def _record(event: dict[str, Any], visit: Visit) -> None:
    method, params = event.get("method"), event.get("params", {})
    if method == "Network.requestWillBeSent":
        visit.requests.append(params["request"]["url"])
    elif method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        visit.errors.append(details.get("exception", {}).get("description") or details["text"])
    elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        visit.errors.append(" ".join(str(arg.get("value")) for arg in params.get("args", [])))
    elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
        visit.errors.append(params["entry"].get("text", ""))


async def _visit(devtools_url: str, url: str, expression: str) -> Visit:
    async with connect(devtools_url, max_size=None) as socket:
        devtools = _Devtools(socket)
        target = (await devtools.call("Target.createTarget", url="about:blank"))["targetId"]
        attached = await devtools.call("Target.attachToTarget", targetId=target, flatten=True)
        session = attached["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            await devtools.call(f"{domain}.enable", session)
        await devtools.call("Page.navigate", session, url=url)
        await devtools.wait_for("Page.loadEventFired")
        result = await devtools.call(
            "Runtime.evaluate", session, expression=expression, returnByValue=True
        )
        visit = Visit(found=result["result"].get("value"))
        for event in devtools.events:
            if event.get("sessionId") == session:
                _record(event, visit)
        return visit


def _devtools_url(profile: Path, process: subprocess.Popen, timeout: float) -> str:
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("chromium did not open its DevTools port")
        time.sleep(0.05)
    port, path = port_file.read_text().splitlines()[:2]
    return f"ws://127.0.0.1:{port}{path}"


def visit(url: str, expression: str, timeout: float = 30.0) -> Visit:
    """Open ``url`` in a fresh headless Chromium; raise if chromium is not installed."""
    binary = shutil.which("chromium")
    if binary is None:
        raise FileNotFoundError("chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            devtools_url = _devtools_url(Path(profile), process, timeout)
            return asyncio.run(asyncio.wait_for(_visit(devtools_url, url, expression), timeout))
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)  # the browser and its helpers
            process.wait(10)
