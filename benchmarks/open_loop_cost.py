"""The open loop's CPU per request: constant rates and a ramp, against `/ping` on the demo
server.

The server is pinned to core 0, loadtui to core 1: 50 connections, ``--seconds`` per run
(default 10), each load in turn, ``--rounds`` times (medians printed). Per load: the requests
sent, the engine's CPU µs per request (its own per-second reports, as ``client_cost``) and the
send lag's p99 (how late the schedule went out). ``--source DIR`` runs another loadtui source
tree (a checkout of main, say) for a before/after on the same machine.

    flock /tmp/loadtui-bench.lock .venv/bin/python -m benchmarks.open_loop_cost
"""

from __future__ import annotations

import argparse
import statistics

from benchmarks._common import demo_server, engine_measured_cpu_s, run_loadtui

CONNECTIONS = 50
SERVER_CORE, GENERATOR_CORE = 0, 1


def loads(seconds: int, ramp: bool) -> dict[str, str]:
    """Each load's --rate: two constant rates and (``ramp``) a ramp between them over the run."""
    constant = {"1,000/s": "1000", "5,000/s": "5000"}
    return {**constant, "ramp 1,000→5,000/s": f"1000:5000@{seconds}s"} if ramp else constant


def measure(url: str, rate: str, seconds: int, env: dict[str, str]) -> tuple[int, float, float]:
    """One run: requests, engine CPU µs per request, send lag p99 ms."""
    args = ["/ping", "--target", url, "--users", str(CONNECTIONS), "--rate", rate]
    if "@" not in rate:
        args += ["--duration", str(seconds)]
    doc, _tree_s, _engine_s = run_loadtui(args, core=GENERATOR_CORE, env=env)
    requests = doc["summary"]["requests"]
    lag = (doc["summary"].get("send_lag_ms") or {}).get("p99", float("nan"))
    return requests, engine_measured_cpu_s(doc) / max(1, requests) * 1e6, lag


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--source", help="another loadtui source tree to run (PYTHONPATH)")
    parser.add_argument("--no-ramp", action="store_true", help="constant rates only (older trees)")
    args = parser.parse_args()
    env = {"PYTHONPATH": args.source} if args.source else {}
    results: dict[str, list[tuple[int, float, float]]] = {}
    with demo_server(SERVER_CORE) as (url, _pid):
        for _ in range(args.rounds):
            for name, rate in loads(args.seconds, not args.no_ramp).items():
                results.setdefault(name, []).append(measure(url, rate, args.seconds, env))
    print(f"{'load':<22} {'requests':>9} {'engine µs/req':>14} {'send lag p99 ms':>16}")
    for name, rows in results.items():
        requests = statistics.median(row[0] for row in rows)
        us = statistics.median(row[1] for row in rows)
        lag = statistics.median(row[2] for row in rows)
        print(f"{name:<22} {requests:>9,.0f} {us:>14.1f} {lag:>16.2f}")


if __name__ == "__main__":
    main()
