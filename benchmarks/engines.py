"""Several engines (issue 15): the most req/s one engine drives beside two, the CPU per request
of each, and what running the engines as Ray actors adds per engine (start time, CPU, memory).

The target is Debian's nginx answering a static 200 (far cheaper per request than any engine,
so the engines are the bottleneck), 50 connections per engine, no think time, ``--seconds``
each (default 10). Layouts:

- ``pinned``: nginx on core 0, the engines where the kernel puts them. One engine has core 1 to
  itself; two have core 1 and what nginx leaves of core 0. (loadtui refuses more engines than
  the cores it may use, so two engines cannot both be pinned to core 1.)
- ``free``: nothing pinned, nginx with one worker: on 2 cores the engines and nginx compete.
- ``ray``: ``--ray local`` (a Ray cluster started on this machine, on loopback, for the run)
  and ``--ray auto`` (joining one started beforehand), unpinned, beside the same local run.

    make bench-setup && .venv/bin/pip install -e '.[ray]'
    flock /tmp/loadtui-bench.lock .venv/bin/python -m benchmarks.engines

Per run: req/s; engine CPU µs per request (the engines' own reports in the run file, over the
measured seconds); nginx's CPU (100 % = its core is the bottleneck); the start-up (launch to
the first measured second); and for Ray, the CPU and peak memory of its actors and daemons.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psutil

from benchmarks._common import nginx_server, pinned, sample_tree, wait_measured

CONNECTIONS = 50
SERVER_CORE = 0
RAY_COMMANDS = ("ray::", "gcs_server", "raylet", "ray/dashboard", "ray/autoscaler", "ray/_private")


@dataclass(frozen=True)
class Measured:
    label: str
    rps: float
    engine_us: float  # engine CPU per request
    nginx_percent: float
    startup_s: float  # launch to the start of the first measured second
    tree_cpu_s: float  # `loadtui run` and every child it waited for
    relay_cpu_s: float = 0.0  # the Ray actors that run the engines (not the engines)
    relay_rss_mb: float = 0.0  # their peak resident memory, together
    ray_cpu_s: float = 0.0  # Ray's own processes (GCS, raylet, agents, idle workers)
    ray_rss_mb: float = 0.0


def _engine_cpu_s(doc: dict) -> float:
    """Every engine's CPU over the measured seconds, from its own reports."""
    duration = doc["summary"]["duration_s"]
    return sum(e["cpu_percent_mean"] / 100.0 * duration for e in doc["generator"]["engines"])


def _ray_processes(ray_dir: str) -> list[psutil.Process]:
    """Ray's processes of the cluster whose files are in ``ray_dir``, loadtui's engines aside."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            line = " ".join(process.info["cmdline"] or ())
            if "loadtui.workers" in line or not any(c in line for c in RAY_COMMANDS):
                continue
            if ray_dir in line or process.environ().get("RAY_TMPDIR") == ray_dir:
                found.append(process)
        except psutil.Error:
            continue
    return found


def run(
    label: str,
    url: str,
    nginx_pid: int,
    seconds: int,
    engines: int,
    *,
    core: int | None,
    ray: str | None = None,
    env: dict[str, str] | None = None,
) -> Measured:
    out = Path(tempfile.mkdtemp()) / "run.json"
    args = [sys.executable, "-m", "loadtui", "run", "/", "--target", url, "--engines", str(engines)]
    args += ["--users", str(CONNECTIONS * engines), "--spawn-rate", "10000"]
    args += ["--think-min", "0", "--think-max", "0", "--duration", str(seconds)]
    args += ["--json", str(out)] + (["--ray", ray] if ray else [])
    env = env or dict(os.environ)
    ray_dir = env.get("RAY_TMPDIR", "")
    nginx = psutil.Process(nginx_pid)
    nginx_before = sum(nginx.cpu_times()[:2])
    ray_cpu: dict[int, float] = {}
    ray_rss: dict[int, int] = {}
    relays: set[int] = set()
    seen: dict[int, tuple[str, float]] = {}

    def sample() -> None:
        sample_tree(proc.pid, seen)
        if not ray:
            return
        for process in _ray_processes(ray_dir):
            try:
                times = process.cpu_times()
                ray_cpu[process.pid] = times.user + times.system
                ray_rss[process.pid] = max(ray_rss.get(process.pid, 0), process.memory_info().rss)
                if "ray::EngineRelay" in " ".join(process.cmdline()):
                    relays.add(process.pid)
            except psutil.Error:
                continue

    baseline: dict[int, float] = {}
    if ray == "auto":  # the cluster ran before: only what it used during the run counts
        for process in _ray_processes(ray_dir):
            times = process.cpu_times()
            baseline[process.pid] = times.user + times.system
    launched = time.time()
    proc = subprocess.Popen(
        pinned(args, core), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    finished = wait_measured(proc, sample)
    if finished.returncode != 0:
        raise RuntimeError(f"{label}: {proc.stderr.read().decode() if proc.stderr else ''}")
    doc = json.loads(out.read_text())
    summary = doc["summary"]
    if summary["errors"]:
        raise RuntimeError(f"{label}: loadtui counted {summary['errors_by_kind']}")
    started = datetime.fromisoformat(doc["started_at"]).timestamp()
    used = {pid: cpu - baseline.get(pid, 0.0) for pid, cpu in ray_cpu.items()}
    return Measured(
        label,
        rps=summary["rps"],
        engine_us=_engine_cpu_s(doc) / summary["requests"] * 1e6,
        nginx_percent=(sum(nginx.cpu_times()[:2]) - nginx_before) / summary["duration_s"] * 100,
        startup_s=started - launched,
        tree_cpu_s=finished.cpu_s,
        relay_cpu_s=sum(cpu for pid, cpu in used.items() if pid in relays),
        relay_rss_mb=sum(rss for pid, rss in ray_rss.items() if pid in relays) / 1e6,
        ray_cpu_s=sum(cpu for pid, cpu in used.items() if pid not in relays),
        ray_rss_mb=sum(rss for pid, rss in ray_rss.items() if pid not in relays) / 1e6,
    )


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def ray_head(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """A Ray head on loopback with this machine's CPUs, for ``--ray auto`` to join; the
    environment a driver joins it with."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    head_env = {**env, **token, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    command = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block"]
    command += ["--port", str(port), "--node-ip-address", "127.0.0.1"]
    command += ["--include-dashboard", "false", "--disable-usage-stats"]
    proc = subprocess.Popen(
        command, env=head_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not _listening(port):
            if time.monotonic() > deadline:
                raise RuntimeError("the Ray head did not start")
            time.sleep(0.2)
        time.sleep(2.0)
        yield {**env, **token, "RAY_ADDRESS": f"127.0.0.1:{port}"}
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _print(title: str, rows: list[Measured]) -> None:
    print(f"\n### {title}\n")
    print("| run | req/s | engine CPU µs / request | nginx CPU | start-up | tree CPU s |")
    print("|---|---|---|---|---|---|")
    for m in rows:
        print(
            f"| {m.label} | {m.rps:,.0f} | {m.engine_us:.1f} | {m.nginx_percent:.0f} % | "
            f"{m.startup_s:.2f} s | {m.tree_cpu_s:.1f} |"
        )
    ray = [m for m in rows if m.ray_rss_mb]
    if ray:
        print("\n| run | the 2 relay actors: CPU s, peak MB | the rest of Ray: CPU s, peak MB |")
        print("|---|---|---|")
        for m in ray:
            print(
                f"| {m.label} | {m.relay_cpu_s:.2f} s, {m.relay_rss_mb:,.0f} MB | "
                f"{m.ray_cpu_s:.1f} s, {m.ray_rss_mb:,.0f} MB |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--layouts", default="pinned,free,ray")
    args = parser.parse_args()
    layouts = args.layouts.split(",")
    print(
        f"{CONNECTIONS} connections per engine, no think time, {args.seconds} s per run, "
        f"{os.cpu_count()} cores; {datetime.now():%Y-%m-%d %H:%M}."
    )
    if "pinned" in layouts:
        with nginx_server(core=SERVER_CORE) as (url, pid):
            time.sleep(1.0)
            rows = [
                run(f"{n} engine{'s' if n > 1 else ''}", url, pid, args.seconds, n, core=None)
                for n in (1, 2, 1, 2)
            ]  # fmt: skip
        _print("nginx on core 0, the engines unpinned", rows)
    if "free" in layouts:
        with nginx_server(core=None, port=18911) as (url, pid):
            time.sleep(1.0)
            rows = [
                run(f"{n} engine{'s' if n > 1 else ''}", url, pid, args.seconds, n, core=None)
                for n in (1, 2, 1, 2)
            ]
        _print("nothing pinned: nginx and the engines share the 2 cores", rows)
    if "ray" in layouts:
        ray_dir = tempfile.mkdtemp(prefix="lt-ray-", dir="/tmp")
        env = {**os.environ, "RAY_TMPDIR": ray_dir}
        try:
            with nginx_server(core=None, port=18912) as (url, pid):
                time.sleep(1.0)
                rows = [run("2 local engines", url, pid, args.seconds, 2, core=None)]
                rows.append(
                    run("2 Ray actors, --ray local", url, pid, args.seconds, 2, core=None,
                        ray="local", env=env)
                )  # fmt: skip
                with ray_head(env) as joined:
                    rows.append(
                        run("2 Ray actors, --ray auto (joined)", url, pid, args.seconds, 2,
                            core=None, ray="auto", env=joined)
                    )  # fmt: skip
            _print("Ray: engines as actors, nothing pinned", rows)
        finally:
            shutil.rmtree(ray_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
