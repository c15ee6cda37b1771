"""What instrument(app) costs an app at saturation: req/s and p99, instrumented vs not.

One uvicorn worker (uvloop + httptools) pinned to core 0 serves a trivial FastAPI route (the
worst case: the instrumentation's per-request work is all the work there is); wrk pinned to core
1 saturates it (50 connections, no think time). Besides req/s and p99, which other processes on
core 0 disturb, it reports the server's CPU time per request, which they disturb less. The same
app file is served both ways: plain with ``LOADTUI_INSTRUMENT=0`` (instrument() then adds
nothing), instrumented without. Pairs alternate their order (ABBA) so that drift on a shared
machine cancels out. Aim: under 3 % req/s.

    flock /tmp/loadtui-bench.lock .venv/bin/python -m benchmarks.instrument_cost [--pairs 6]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from benchmarks._common import pinned

APP = """
from fastapi import FastAPI
from loadtui import instrument

app = FastAPI()


@app.get("/ping")
async def ping():
    return {"ok": True}


instrument(app)
"""
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(app_dir: Path, port: int, instrumented: bool) -> subprocess.Popen[bytes]:
    env = dict(os.environ, LOADTUI_INSTRUMENT="1" if instrumented else "0")
    command = [sys.executable, "-m", "uvicorn", "cost_app:app", "--app-dir", str(app_dir)]
    command += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    proc = subprocess.Popen(pinned(command, 0), env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1).raise_for_status()
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the app did not start")


@dataclass(frozen=True)
class Result:
    rps: float
    p99_ms: float
    cpu_us: float  # server CPU time per request


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _wrk(url: str, seconds: int, connections: int, server: psutil.Process) -> Result:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    before = _cpu(server)
    out = subprocess.run(pinned(command, 1), capture_output=True, text=True, check=True).stdout
    cpu = _cpu(server) - before
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)$", out, re.M).groups()
    return Result(rps, float(value) * UNITS[unit], cpu / requests * 1e6)


def measure(app_dir: Path, instrumented: bool, seconds: int, connections: int) -> Result:
    port = _free_port()
    proc = _serve(app_dir, port, instrumented)
    try:
        url = f"http://127.0.0.1:{port}/ping"
        server = psutil.Process(proc.pid)  # taskset execs uvicorn: the same pid
        _wrk(url, 2, connections, server)  # warm-up
        return _wrk(url, seconds, connections, server)
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed")
    app_dir = Path(tempfile.mkdtemp())
    (app_dir / "cost_app.py").write_text(APP)
    print(
        "| pair | req/s plain | req/s instr. | change | p99 ms plain | p99 ms instr. "
        "| CPU µs/req plain | CPU µs/req instr. | change |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    changes: dict[str, list[float]] = {"rps": [], "p99_ms": [], "cpu_us": []}
    for pair in range(args.pairs):
        order = (False, True) if pair % 2 == 0 else (True, False)
        results = {kind: measure(app_dir, kind, args.seconds, args.connections) for kind in order}
        plain, ins = results[False], results[True]
        for name, values in changes.items():
            values.append(getattr(ins, name) / getattr(plain, name) - 1)
        print(
            f"| {pair + 1} | {plain.rps:,.0f} | {ins.rps:,.0f} | {changes['rps'][-1]:+.1%} | "
            f"{plain.p99_ms:.2f} | {ins.p99_ms:.2f} | {plain.cpu_us:.1f} | {ins.cpu_us:.1f} | "
            f"{changes['cpu_us'][-1]:+.1%} |",
            flush=True,
        )
    summary = ", ".join(
        f"{name} {statistics.median(values):+.1%} ({min(values):+.1%} to {max(values):+.1%})"
        for name, values in changes.items()
    )
    print(f"\nmedian change, instrumented vs plain: {summary}; aim: req/s within -3 %")


if __name__ == "__main__":
    main()
