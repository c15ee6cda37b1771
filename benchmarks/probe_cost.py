"""What the probe costs the server: its CPU with and without loadtui's probe at 4 Hz.

Spawns an idle demo server, measures its CPU over a window with no probe, then over an equal
window with the real probe (sidecar /metrics and /stalls, app /heartbeat, psutil) running.
Target: < 1% of one core.

    .venv/bin/python -m benchmarks.probe_cost [--seconds 30]
"""

from __future__ import annotations

import argparse
import time

import psutil

from loadtui.probe import Probe
from loadtui.targets.spawn import SpawnedServer
from loadtui.targets.target import parse_target


def cpu_percent(process: psutil.Process, seconds: float) -> float:
    before = process.cpu_times()
    time.sleep(seconds)
    after = process.cpu_times()
    return (after.user + after.system - before.user - before.system) / seconds * 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    samples: list[object] = []
    failures: list[str] = []
    with SpawnedServer.start() as server:
        process = psutil.Process(server.pid)
        time.sleep(2)
        idle = cpu_percent(process, args.seconds)
        target = parse_target(server.url, "/ping")
        probe = Probe(
            target, samples.append, lambda _stalls: None, lambda _a, _m: None, failures.append
        )
        probe.start()
        time.sleep(2)
        probed = cpu_percent(process, args.seconds)
        probe.stop()
    rate = len(samples) / (args.seconds + 2)
    print(f"server CPU idle {idle:.2f}%, probed {probed:.2f}% ({rate:.1f} samples/s)")
    print(f"probe cost: {probed - idle:.2f}% of one core (target < 1%)")
    if failures:
        print(f"the probe failed: {failures[0]}")


if __name__ == "__main__":
    main()
