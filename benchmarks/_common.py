"""Shared helpers for the benchmarks: start a pinned demo server, run Locust, read CPU."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = ROOT / "benchmarks" / "locustfile.py"


def pinned(command: list[str], core: int | None) -> list[str]:
    if core is None or shutil.which("taskset") is None:
        return command
    return ["taskset", "-c", str(core), *command]


@contextmanager
def demo_server(core: int | None = None, port: int = 18900):
    """`loadtui server` on a fixed loopback port, optionally pinned to one core."""
    command = [sys.executable, "-m", "loadtui", "server", "--port", str(port)]
    command += ["--metrics-port", str(port + 1)]
    proc = subprocess.Popen(
        pinned(command, core), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        proc.stdout.readline()  # the ready line
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


def sample_tree(pid: int, seen: dict[int, tuple[str, float]]) -> None:
    """Record the CPU seconds of a process and its children, keeping exited ones' last value."""
    try:
        root = psutil.Process(pid)
        for process in [root, *root.children(recursive=True)]:
            times = process.cpu_times()
            seen[process.pid] = (" ".join(process.cmdline()), times.user + times.system)
    except psutil.Error:
        pass


def run_locust(
    url: str,
    route: str,
    users: int,
    spawn_rate: float,
    seconds: int,
    *,
    user: str,
    think: bool,
    core: int | None = None,
) -> dict[str, float]:
    """Locust headless; its stats plus the CPU seconds its process used."""
    prefix = Path(tempfile.mkdtemp()) / "locust"
    env = dict(
        os.environ, LOADTUI_ROUTE=route, LOADTUI_USER=user, LOADTUI_THINK="1" if think else "0"
    )
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]
    command += ["-u", str(users), "-r", str(spawn_rate), "-t", f"{seconds}s", "-H", url]
    command += ["--csv", str(prefix), "--only-summary", "--loglevel", "WARNING"]
    proc = subprocess.Popen(
        pinned(command, core), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    cpu = 0.0
    process = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            times = process.cpu_times()
            cpu = times.user + times.system
        except psutil.Error:
            break
        time.sleep(0.2)
    with open(f"{prefix}_stats.csv") as stream:
        row = next(r for r in csv.DictReader(stream) if r["Name"] == "Aggregated")
    return {
        "requests": float(row["Request Count"]),
        "failures": float(row["Failure Count"]),
        "rps_locust": float(row["Requests/s"]),
        "mean_ms": float(row["Average Response Time"]),
        "p50_ms": float(row["50%"]),
        "p99_ms": float(row["99%"]),
        "cpu_s": cpu,
    }


def run_loadtui(args: list[str], core: int | None = None) -> tuple[dict, float, float]:
    """`loadtui run ... --json`; the document, CPU seconds of loadtui's whole tree, and of its
    engine process alone (sampled while alive)."""
    out = Path(tempfile.mkdtemp()) / "run.json"
    command = [sys.executable, "-m", "loadtui", "run", *args, "--json", str(out)]
    proc = subprocess.Popen(
        pinned(command, core), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    seen: dict[int, tuple[str, float]] = {}
    while proc.poll() is None:
        sample_tree(proc.pid, seen)
        time.sleep(0.1)
    tree = sum(cpu for _, cpu in seen.values())
    engine = sum(cpu for command, cpu in seen.values() if "loadtui.workers" in command)
    return json.loads(out.read_text()), tree, engine
