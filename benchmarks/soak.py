"""Soak: a long open-loop run at ~1,000 req/s; the engine's memory, sockets and tasks must stay
flat (within 10%), and so must the server's.

    .venv/bin/python -m benchmarks.soak [--minutes 10] [--rate 1000]

Reads the run file's per-second generator figures (RSS, open fds, asyncio tasks, recorded by
the engine itself) and the server's RSS from the probe; compares minute 1 with the last minute.
"""

from __future__ import annotations

import argparse
from statistics import fmean

from benchmarks._common import demo_server, run_loadtui


def window(timeline: list[dict], start: float, end: float, pick) -> float:
    values = [v for e in timeline if start <= e["t"] < end and (v := pick(e)) is not None]
    return fmean(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=1000.0)
    args = parser.parse_args()
    seconds = int(args.minutes * 60)
    with demo_server(core=0) as (url, _pid):
        doc, tree, engine = run_loadtui(
            ["/ping", "--target", url, "--rate", str(args.rate), "--users", "50",
             "--duration", str(seconds)],
            core=1,
        )  # fmt: skip
    timeline, summary = doc["timeline"], doc["summary"]
    print(
        f"{summary['requests']:,} requests in {summary['duration_s']:.0f} s "
        f"({summary['rps']:,.0f} req/s), errors {summary['errors']}, unsent {summary.get('unsent')}"
    )
    print(f"engine CPU {engine / summary['requests'] * 1e6:.0f} us/request, tree {tree:.0f} s\n")
    print("| figure | minute 1 | last minute | change |\n|---|---|---|---|")
    picks = {
        "engine RSS (MB)": lambda e: e["generator"]["rss_bytes"] / 1e6,
        "engine open fds": lambda e: e["generator"]["open_fds"],
        "engine asyncio tasks": lambda e: e["generator"]["tasks"],
        "server RSS (MB)": lambda e: (e["server"]["rss_bytes"] or 0) / 1e6 or None,
        "p99 latency (ms)": lambda e: e["p99_ms"],
    }
    for name, pick in picks.items():
        first = window(timeline, 60, 120, pick)
        last = window(timeline, seconds - 60, seconds + 1, pick)
        print(f"| {name} | {first:.1f} | {last:.1f} | {(last - first) / first:+.1%} |")


if __name__ == "__main__":
    main()
