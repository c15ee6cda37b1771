"""Shared helpers for the benchmarks: pinned targets (the demo server, nginx), and the
generators run against them (loadtui, Locust, wrk) with the CPU each one used."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = ROOT / "benchmarks" / "locustfile.py"


def pinned(command: list[str], core: int | None) -> list[str]:
    if core is None or shutil.which("taskset") is None:
        return command
    return ["taskset", "-c", str(core), *command]  # taskset execs: the pid stays the command's


@dataclass(frozen=True)
class Finished:
    """A child process that ran to its end: its exit code and the CPU seconds it and the
    children it waited for used (wait4's rusage: exact, start-up included)."""

    returncode: int
    cpu_s: float
    wall_s: float


def wait_measured(
    proc: subprocess.Popen, every: Callable[[], None] | None = None, period: float = 0.1
) -> Finished:
    """Reap ``proc`` with wait4 (calling ``every`` while it runs) and read its rusage."""
    started = time.monotonic()
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if every is not None:
            every()
        time.sleep(period)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Finished(proc.returncode, usage.ru_utime + usage.ru_stime, time.monotonic() - started)


def _wait_listening(port: int, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


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
        _stop(proc)


@contextmanager
def plain_fastapi_server(core: int | None = None, port: int = 18920):
    """``benchmarks/plain_app.py`` (a plain FastAPI ``def`` route) on uvicorn, one worker."""
    command = [sys.executable, "-m", "uvicorn", "benchmarks.plain_app:app", "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log"]
    proc = subprocess.Popen(pinned(command, core), cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port, proc)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        _stop(proc)


NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    server {{
        listen 127.0.0.1:{port}{tls};
        default_type text/plain;
        location / {{ return 200 "pong\\n"; }}
        location = /login {{
            default_type application/json;
            return 200 '{{"access_token": "{token}", "token_type": "bearer"}}';
        }}
    }}
}}
"""
LOGIN_TOKEN = "0123456789abcdef0123456789abcdef"  # what nginx's /login answers (journey_cost)
NGINX_TLS = """ ssl;
        ssl_certificate {dir}/server.pem;
        ssl_certificate_key {dir}/server.pem;
        ssl_session_cache shared:SSL:1m"""


@contextmanager
def nginx_server(core: int | None = None, port: int = 18910, tls: bool = False):
    """Debian's nginx answering a static 200 (to any method; ``/login``: a JSON token) on a
    loopback port: one process
    in the foreground (no daemon, no master), its own configuration in a temporary directory.
    ``tls``: https, with a certificate for 127.0.0.1 made for the run (trustme)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    with tempfile.TemporaryDirectory(prefix="loadtui-nginx-") as where:
        if tls:
            import trustme

            ca = trustme.CA()
            ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(
                f"{where}/server.pem"
            )
        conf = Path(where) / "nginx.conf"
        tls_lines = NGINX_TLS.format(dir=where) if tls else ""
        conf.write_text(NGINX_CONF.format(dir=where, port=port, tls=tls_lines, token=LOGIN_TOKEN))
        command = [nginx, "-p", where, "-c", str(conf), "-e", f"{where}/error.log"]
        proc = subprocess.Popen(
            pinned(command, core), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            _wait_listening(port, proc)
            yield f"{'https' if tls else 'http'}://127.0.0.1:{port}", proc.pid
        finally:
            _stop(proc)


def sample_tree(pid: int, seen: dict[int, tuple[str, float]]) -> None:
    """Record the CPU seconds of a process and its children, keeping exited ones' last value."""
    try:
        root = psutil.Process(pid)
        for process in [root, *root.children(recursive=True)]:
            times = process.cpu_times()
            seen[process.pid] = (" ".join(process.cmdline()), times.user + times.system)
    except psutil.Error:
        pass


def _steady_window(history: Path, samples: list[tuple[float, float]], users: int):
    """CPU seconds and requests between the first stats row with every user running (plus one
    second) and the last row; CPU read from (epoch, cpu_s) samples taken every 0.1 s."""
    with open(history) as stream:
        rows = [
            (float(r["Timestamp"]), float(r["Total Request Count"]), int(r["User Count"]))
            for r in csv.DictReader(stream)
            if r["Name"] == "Aggregated"
        ]
    full = [row for row in rows if row[2] >= users]
    first = next((row for row in full if row[0] >= full[0][0] + 1), None) if full else None
    last = rows[-1]
    if first is None or last[0] - first[0] < 1:
        raise RuntimeError("Locust ran too briefly for a steady-state window: give more seconds")

    def cpu_at(epoch: float) -> float:
        return min(samples, key=lambda s: abs(s[0] - epoch))[1]

    return cpu_at(last[0]) - cpu_at(first[0]), last[1] - first[1]


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
    shape: dict[str, str] | None = None,
) -> dict[str, float]:
    """Locust headless; its stats, the CPU seconds its process used (``cpu_s``: exact, start-up
    included), and ``steady_cpu_s`` over ``steady_requests``: from one second after every user
    was running to the end."""
    prefix = Path(tempfile.mkdtemp()) / "locust"
    env = dict(
        os.environ, LOADTUI_ROUTE=route, LOADTUI_USER=user, LOADTUI_THINK="1" if think else "0"
    )
    env.update(shape or {})  # LOADTUI_METHOD, LOADTUI_HEADERS, LOADTUI_BODY
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]
    command += ["-u", str(users), "-r", str(spawn_rate), "-t", f"{seconds}s", "-H", url]
    command += ["--csv", str(prefix), "--only-summary", "--loglevel", "WARNING"]
    proc = subprocess.Popen(
        pinned(command, core), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    process = psutil.Process(proc.pid)
    samples: list[tuple[float, float]] = []

    def sample() -> None:
        with_time = time.time()
        try:
            times = process.cpu_times()
        except psutil.Error:
            return
        samples.append((with_time, times.user + times.system))

    finished = wait_measured(proc, sample)
    with open(f"{prefix}_stats.csv") as stream:
        row = next(r for r in csv.DictReader(stream) if r["Name"] == "Aggregated")
    steady_cpu, steady_requests = _steady_window(
        Path(f"{prefix}_stats_history.csv"), samples, users
    )
    return {
        "requests": float(row["Request Count"]),
        "failures": float(row["Failure Count"]),
        "rps_locust": float(row["Requests/s"]),
        "mean_ms": float(row["Average Response Time"]),
        "p50_ms": float(row["50%"]),
        "p99_ms": float(row["99%"]),
        "cpu_s": finished.cpu_s,
        "steady_cpu_s": steady_cpu,
        "steady_requests": steady_requests,
    }


def locust_fast_us(
    url: str, route: str, users: int, seconds: int, core: int, shape: dict[str, str] | None = None
) -> float:
    """Locust FastHttpUser flat out (no think time): its steady CPU µs per request; a run with
    any failure raises."""
    run = run_locust(
        url, route, users, 1000, seconds, user="fast", think=False, core=core, shape=shape
    )
    if run["failures"]:
        raise RuntimeError(f"Locust counted {run['failures']:.0f} failures")
    return run["steady_cpu_s"] / run["steady_requests"] * 1e6


def run_loadtui(
    args: list[str], core: int | None = None, env: dict[str, str] | None = None
) -> tuple[dict, float, float]:
    """`loadtui run ... --json`; the document, the CPU seconds of loadtui's whole tree (exact,
    start-up included), and of its engine process alone (sampled while alive). ``env`` is added
    to this process's (PYTHONPATH: another loadtui's source tree, say); with it, loadtui runs
    in a directory of its own, where no loadtui comes before PYTHONPATH's."""
    out = Path(tempfile.mkdtemp()) / "run.json"
    command = [sys.executable, "-m", "loadtui", "run", *args, "--json", str(out)]
    proc = subprocess.Popen(
        pinned(command, core),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        cwd=out.parent if env else None,
    )
    seen: dict[int, tuple[str, float]] = {}
    finished = wait_measured(proc, lambda: sample_tree(proc.pid, seen))
    engine = sum(cpu for command, cpu in seen.values() if "loadtui.workers" in command)
    return json.loads(out.read_text()), finished.cpu_s, engine


def run_loadtui_busy(
    request: list[str],
    url: str,
    users: int,
    seconds: int,
    core: int | None = None,
    env: dict[str, str] | None = None,
) -> tuple[dict, float]:
    """`loadtui run` with no think time (the cost workload): the document, checked free of
    errors, and the whole tree's CPU seconds."""
    doc, tree_s, _engine_s = run_loadtui(
        [*request, "--target", url, "--users", str(users), "--spawn-rate", "1000",
         "--think-min", "0", "--think-max", "0", "--duration", str(seconds)],
        core=core,
        env=env,
    )  # fmt: skip
    if doc["summary"]["errors"]:
        raise RuntimeError(f"loadtui counted errors: {doc['summary']['errors_by_kind']}")
    return doc, tree_s


def engine_measured_cpu_s(doc: dict) -> float:
    """The engine's CPU seconds over the measured intervals, from its per-second reports."""
    return sum(
        entry["generator"]["cpu_percent"] / 100.0 * entry["seconds"] for entry in doc["timeline"]
    )


@dataclass(frozen=True)
class WrkRun:
    requests: int
    seconds: float
    errors: int
    cpu_s: float


def run_wrk(url: str, connections: int, seconds: int, core: int | None = None) -> WrkRun:
    """wrk, one thread, ``connections`` keep-alive connections; its own count and its CPU."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url]
    proc = subprocess.Popen(
        pinned(command, core), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    output = proc.stdout.read()
    finished = wait_measured(proc)
    found = re.search(r"(\d+) requests in ([\d.]+)(m?s)", output)
    if found is None:
        raise RuntimeError(f"wrk said: {output}")
    elapsed = float(found[2]) / (1000.0 if found[3] == "ms" else 1.0)
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors += int(non_2xx[1]) if non_2xx else 0
    return WrkRun(int(found[1]), elapsed, errors, finished.cpu_s)
