"""Accuracy: loadtui and Locust against the same demo server, side by side.

The seed's load: 100 users, spawn 20/s, 30 s, think 0.1-0.5 s; routes 5, 4 and 1; a fresh
server for every run. Locust's req/s divides by the time of its last response (its
convention); loadtui reports both that and requests / run duration.

    make bench-setup && .venv/bin/python -m benchmarks.accuracy [--routes 5,4,1] [--user http]
"""

from __future__ import annotations

import argparse

from benchmarks._common import demo_server, run_loadtui, run_locust
from loadtui.server.variants import find_variant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", default="5,4,1")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument(
        "--user", default="http", choices=["http", "fast"], help="Locust user class"
    )
    args = parser.parse_args()
    print(
        "| route | tool | requests | req/s (run) | req/s (to last response) | mean ms | p50 ms "
        "| p99 ms |\n|---|---|---|---|---|---|---|---|"
    )
    for key in args.routes.split(","):
        path = find_variant(key).path
        with demo_server() as (url, _pid):
            stats = run_locust(url, path, args.users, 20, args.seconds, user=args.user, think=True)
        print(
            f"| {key} | Locust {args.user} | {stats['requests']:.0f} | "
            f"{stats['requests'] / args.seconds:.2f} | {stats['rps_locust']:.2f} | "
            f"{stats['mean_ms']:.0f} | {stats['p50_ms']:.0f} | {stats['p99_ms']:.0f} |"
        )
        with demo_server() as (url, _pid):
            doc, _tree, _engine = run_loadtui(
                [key, "--target", url, "--users", str(args.users), "--spawn-rate", "20",
                 "--duration", str(args.seconds)]
            )  # fmt: skip
        s, lat = doc["summary"], doc["summary"]["latency_ms"]
        print(
            f"| {key} | loadtui | {s['requests']} | {s['rps']:.2f} | "
            f"{s['rps_to_last_response'] or 0:.2f} | {lat['mean']:.0f} | {lat['p50']:.0f} | "
            f"{lat['p99']:.0f} |"
        )


if __name__ == "__main__":
    main()
