"""What instrument(app) costs an app at saturation: req/s and p99, instrumented vs not.

One uvicorn worker (uvloop + httptools) pinned to core 0 serves a trivial FastAPI route (the
worst case: the instrumentation's per-request work is all the work there is); wrk pinned to core
1 saturates it (50 connections, no think time). Besides req/s and p99, which other processes on
core 0 disturb, it reports the server's CPU time per request, which they disturb less. The same
app file is served both ways: plain with ``LOADTUI_INSTRUMENT=0`` (instrument() then adds
nothing), instrumented without. Pairs alternate their order (ABBA) so that drift on a shared
machine cancels out. Aim: under 3 % req/s.

``--sampling`` compares instead the instrumented app with its stack sampler off
(``sample_hz=0``) and on (the default rate), both watched as loadtui watches: ``/samples`` read
once a second (the sampler only runs while watched); ``--route sync`` serves a ``def`` route (the
sampler then walks the pool's 40 threads too). ``--idle`` measures the watched app's CPU with no
load, sampler off and on. Aims: under 3 % req/s at saturation, under 1 % of a core idle.

    flock /tmp/loadtui-bench.lock .venv/bin/python -m benchmarks.instrument_cost [--pairs 6]
        [--sampling [--route sync] [--idle]]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from benchmarks._common import pinned

APP = """
import os
from fastapi import FastAPI
from loadtui import instrument

app = FastAPI()


@app.get("/ping")
async def ping():
    return {"ok": True}


@app.get("/sync")
def sync():
    return {"ok": True}


instrument(app, sample_hz=int(os.environ.get("COST_SAMPLE_HZ", "100")))
"""
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Watcher:
    """Reads the sidecar's /samples once a second, as loadtui's probe does during a run."""

    def __init__(self, url: str) -> None:
        beat = httpx.get(f"{url}/heartbeat", timeout=2).json()
        self.samples = f"http://127.0.0.1:{beat['sidecar_port']}/samples"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.seconds_seen = 0

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            with contextlib.suppress(httpx.HTTPError):
                self.seconds_seen = len(httpx.get(self.samples, timeout=2).json()["seconds"])

    def __enter__(self) -> Watcher:
        httpx.get(self.samples, timeout=2)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(3)


def _serve(
    app_dir: Path, port: int, instrumented: bool, sample_hz: int = 100
) -> subprocess.Popen[bytes]:
    env = dict(os.environ, LOADTUI_INSTRUMENT="1" if instrumented else "0")
    env["COST_SAMPLE_HZ"] = str(sample_hz)
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


def measure_sampling(app_dir: Path, hz: int, args: argparse.Namespace) -> Result:
    """The instrumented app, watched, its sampler at ``hz`` (0: off); idle or at saturation."""
    port = _free_port()
    proc = _serve(app_dir, port, True, sample_hz=hz)
    try:
        base = f"http://127.0.0.1:{port}"
        server = psutil.Process(proc.pid)
        with Watcher(base):
            if args.idle:
                time.sleep(2)
                before, started = _cpu(server), time.monotonic()
                time.sleep(args.seconds)
                share = (_cpu(server) - before) / (time.monotonic() - started)
                return Result(0.0, 0.0, share * 100)  # cpu_us holds % of a core here
            url = f"{base}/{args.route}"
            _wrk(url, 2, args.connections, server)  # warm-up
            return _wrk(url, args.seconds, args.connections, server)
    finally:
        proc.terminate()
        proc.wait(10)


def sampling(app_dir: Path, args: argparse.Namespace) -> None:
    what = "server CPU, % of a core (idle)" if args.idle else f"/{args.route} at saturation"
    print(f"stack sampler off vs on ({what}), watched: /samples read once a second\n")
    print("| pair | req/s off | req/s on | change | CPU off | CPU on | change |")
    print("|---|---|---|---|---|---|---|")
    changes: list[float] = []
    cpu: list[float] = []
    for pair in range(args.pairs):
        order = (0, 100) if pair % 2 == 0 else (100, 0)
        results = {hz: measure_sampling(app_dir, hz, args) for hz in order}
        off, on = results[0], results[100]
        changes.append(on.rps / off.rps - 1 if off.rps else 0.0)
        cpu.append(on.cpu_us - off.cpu_us if args.idle else on.cpu_us / off.cpu_us - 1)
        unit = "%" if args.idle else " µs"
        print(
            f"| {pair + 1} | {off.rps:,.0f} | {on.rps:,.0f} | {changes[-1]:+.1%} | "
            f"{off.cpu_us:.2f}{unit} | {on.cpu_us:.2f}{unit} | "
            + (f"{cpu[-1]:+.2f} points |" if args.idle else f"{cpu[-1]:+.1%} |"),
            flush=True,
        )
    if args.idle:
        print(f"\nmedian extra CPU with sampling: {statistics.median(cpu):+.2f} % of a core")
    else:
        print(
            f"\nmedian change, sampling on vs off: req/s {statistics.median(changes):+.1%} "
            f"({min(changes):+.1%} to {max(changes):+.1%}), CPU/req "
            f"{statistics.median(cpu):+.1%}; aim: req/s within -3 %"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--sampling", action="store_true", help="stack sampler off vs on")
    parser.add_argument("--route", choices=("ping", "sync"), default="ping")
    parser.add_argument("--idle", action="store_true", help="with --sampling: no load")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed")
    app_dir = Path(tempfile.mkdtemp())
    (app_dir / "cost_app.py").write_text(APP)
    if args.sampling:
        sampling(app_dir, args)
        return
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
