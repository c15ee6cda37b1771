"""The open loop's CPU per request: constant rates and a ramp, against `/ping` on the demo
server.

The server is pinned to core 0, loadtui to core 1: 50 connections, ``--seconds`` per run
(default 10), each load in turn, ``--rounds`` times (medians printed). Per load: the requests
sent, the engine's CPU µs per request (its own per-second reports, as ``client_cost``) and the
send lag's p99 (how late the schedule went out). ``--before DIR`` runs another loadtui source
tree (a checkout of main, say) beside this one, the two taking turns on each load, for a
before/after on the same machine at the same time (the ramp only where the other tree has
stages).

    flock /tmp/loadtui-bench.lock .venv/bin/python -m benchmarks.open_loop_cost --before DIR
"""

from __future__ import annotations

import argparse
import statistics

from benchmarks._common import demo_server, engine_measured_cpu_s, run_loadtui

CONNECTIONS = 50
SERVER_CORE, GENERATOR_CORE = 0, 1
Figures = tuple[int, float, float]  # requests, engine µs per request, send lag p99 ms


def loads(seconds: int) -> dict[str, str]:
    """Each load's --rate: two constant rates and a ramp between them over the run."""
    return {"1,000/s": "1000", "5,000/s": "5000", "ramp 1,000→5,000/s": f"1000:5000@{seconds}s"}


def measure(url: str, rate: str, seconds: int, source: str | None) -> Figures:
    args = ["/ping", "--target", url, "--users", str(CONNECTIONS), "--rate", rate]
    if "@" not in rate:
        args += ["--duration", str(seconds)]
    env = {"PYTHONPATH": source} if source else None
    doc, _tree_s, _engine_s = run_loadtui(args, core=GENERATOR_CORE, env=env)
    requests = doc["summary"]["requests"]
    lag = (doc["summary"].get("send_lag_ms") or {}).get("p99", float("nan"))
    return requests, engine_measured_cpu_s(doc) / max(1, requests) * 1e6, lag


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", help="another loadtui source tree to run beside this one")
    args = parser.parse_args()
    trees = {"before": args.before, "this tree": None} if args.before else {"this tree": None}
    results: dict[tuple[str, str], list[Figures]] = {}
    with demo_server(SERVER_CORE) as (url, _pid):
        for _ in range(args.rounds):
            for name, rate in loads(args.seconds).items():
                for tree, source in trees.items():
                    if "@" in rate and source is not None:
                        continue  # an older tree has no stages
                    figures = measure(url, rate, args.seconds, source)
                    results.setdefault((name, tree), []).append(figures)
    print(f"{'load':<20} {'tree':<10} {'requests':>9} {'engine µs/req':>14} {'lag p99 ms':>11}")
    for (name, tree), rows in results.items():
        requests, us, lag = (statistics.median(row[i] for row in rows) for i in range(3))
        print(f"{name:<20} {tree:<10} {requests:>9,.0f} {us:>14.1f} {lag:>11.2f}")


if __name__ == "__main__":
    main()
