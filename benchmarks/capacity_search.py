"""How long `loadtui capacity` takes to find a capacity known by construction, with its default
settings (issue 24's bound: within 2 minutes of load).

The app: a def route sleeping 0.2 s behind a thread limiter of 10 tokens (instrument(app,
threads=10)): 50 req/s. The search: `loadtui capacity /slow --slo 'p99<1s'`, defaults otherwise
(ramp steps of 2 s from 5 req/s, steady steps of 5 s, 5 % resolution). Reported: the load
seconds (the steps' own lengths), the wall seconds (the command, start to end) and what it found.

    flock /tmp/loadtui-bench.lock .venv/bin/python -m benchmarks.capacity_search [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

APP = """
    import time

    from fastapi import FastAPI
    from loadtui.server import instrument

    app = FastAPI()


    @app.get("/slow")
    def slow():
        time.sleep(0.2)
        return {"ok": True}


    instrument(app, threads=10)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(directory: Path, port: int) -> subprocess.Popen[bytes]:
    (directory / "known_capacity.py").write_text(textwrap.dedent(APP))
    command = [sys.executable, "-m", "uvicorn", "known_capacity:app", "--app-dir", str(directory)]
    proc = subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "warning"], stdout=subprocess.DEVNULL
    )
    for _ in range(100):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/heartbeat", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the known-capacity app did not start")


def search_once(directory: Path, url: str) -> dict[str, object]:
    out = directory / "capacity.json"
    command = [sys.executable, "-m", "loadtui", "capacity", "/slow", "--target", url]
    command += ["--slo", "p99<1s", "--out", str(directory / "runs"), "--json", str(out)]
    started = time.monotonic()
    done = subprocess.run([*command, "--force"], capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"loadtui capacity exited {done.returncode}: {done.stderr[-2000:]}")
    doc = json.loads(out.read_text())
    return {
        "wall_s": round(wall, 1),
        "load_s": sum(step["seconds"] for step in doc["steps"]),
        "steps": len(doc["steps"]),
        "held_rps": doc["held_rps"],
        "broke_at_rps": doc["broke_at_rps"],
        "limited_by": doc["limited_by"],
        "verdicts": doc["verdicts"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        directory, port = Path(temp), _free_port()
        server = _serve(directory, port)
        try:
            for _ in range(args.runs):
                print(json.dumps(search_once(directory, f"http://127.0.0.1:{port}")), flush=True)
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
