"""What one metrics-sidecar scrape costs the server, in CPU time.

Spawns a demo server, measures its CPU over an idle window (heartbeat + watchdog only), then
over an equal window with N scrapes of the sidecar's /metrics, and reports the difference per
scrape. Target: < 2 ms CPU per scrape.

    .venv/bin/python -m benchmarks.sidecar_scrape [--scrapes 400] [--seconds 20]
"""

from __future__ import annotations

import argparse
import time

import httpx
import psutil

from loadtui.targets.spawn import SpawnedServer


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def window(process: psutil.Process, seconds: float, action=None, count: int = 0) -> float:
    before = cpu_seconds(process)
    started = time.monotonic()
    for i in range(count):
        action()
        pause = started + (i + 1) * seconds / count - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    remaining = started + seconds - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)
    return cpu_seconds(process) - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrapes", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with SpawnedServer.start() as server, httpx.Client(timeout=5) as client:
        process = psutil.Process(server.pid)
        url = f"{server.metrics_url}/metrics"
        client.get(url)  # warm up
        time.sleep(1.0)
        idle = window(process, args.seconds)
        busy = window(
            process, args.seconds, lambda: client.get(url).raise_for_status(), args.scrapes
        )
        size = len(client.get(url).content)
    per_scrape_ms = (busy - idle) / args.scrapes * 1000
    print(f"idle instrumentation: {idle / args.seconds * 100:.2f}% of one core")
    print(f"scrape: {per_scrape_ms:.3f} ms CPU per /metrics ({size} bytes), target < 2 ms")


if __name__ == "__main__":
    main()
