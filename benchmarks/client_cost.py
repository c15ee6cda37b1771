"""Generator CPU per request: wrk, loadtui's engine, loadtui's whole tree and Locust
FastHttpUser, against the same server-bound target, at two server speeds.

The target is pinned to core 0, the generator to core 1: 50 connections, no think time,
``--seconds`` each (default 10). Three server speeds: a plain FastAPI ``def`` route
(``benchmarks/plain_app.py``, uvicorn, one worker: ~5k req/s here), the demo's ``async def``
``/ping`` (`loadtui server`: ~14k req/s), and nginx answering a static 200 (far cheaper: there
the generator is the bottleneck). When the server is the bottleneck, responses arrive a few at
a time and every request pays the generator's whole per-wake-up cost: the slower the server,
the larger that share.

    make bench-setup && flock /tmp/loadtui-bench.lock .venv/bin/python -m benchmarks.client_cost

Per generator: req/s, CPU µs per request, the ratio to wrk's, the server's CPU (100 % = its
core is the bottleneck) and what the rest of the machine used meanwhile (other processes on
the two cores; near 0 on a quiet machine). With ``--rounds N`` the tools take turns N times
and the medians are printed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from benchmarks._common import (
    demo_server,
    engine_measured_cpu_s,
    nginx_server,
    plain_fastapi_server,
    run_loadtui_busy,
    run_locust,
    run_wrk,
)

CONNECTIONS = 50
SERVER_CORE, GENERATOR_CORE = 0, 1


@dataclass(frozen=True)
class Row:
    generator: str
    requests: float
    seconds: float
    cpu_s: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def us_per_request(self) -> float:
        return self.cpu_s / self.requests * 1e6


@dataclass(frozen=True)
class Measured:
    rows: list[Row]
    server_percent: float  # the server's CPU over the run, % of its core
    others_percent: float  # everything else on the machine, % of one core


def _busy_s() -> float:
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def measured(run: Callable[[], tuple[list[Row], float]], server_pid: int) -> Measured:
    """Run one generator; its rows, and what the server and everything else used meanwhile."""
    server = psutil.Process(server_pid)
    server_before, busy_before, started = sum(server.cpu_times()[:2]), _busy_s(), time.monotonic()
    rows, generator_cpu_s = run()
    wall = time.monotonic() - started
    server_s = sum(server.cpu_times()[:2]) - server_before
    others_s = _busy_s() - busy_before - server_s - generator_cpu_s
    return Measured(rows, server_s / wall * 100.0, max(0.0, others_s) / wall * 100.0)


def wrk(url: str, seconds: int) -> tuple[list[Row], float]:
    run = run_wrk(url + "/ping", CONNECTIONS, seconds, core=GENERATOR_CORE)
    if run.errors:
        raise RuntimeError(f"wrk counted {run.errors} errors")
    return [Row("wrk (C), -t1 -c50", run.requests, run.seconds, run.cpu_s)], run.cpu_s


def loadtui(url: str, seconds: int) -> tuple[list[Row], float]:
    doc, tree_s = run_loadtui_busy(["/ping"], url, CONNECTIONS, seconds, core=GENERATOR_CORE)
    summary = doc["summary"]
    requests, duration = summary["requests"], summary["duration_s"]
    return [
        Row("loadtui engine process", requests, duration, engine_measured_cpu_s(doc)),
        Row("loadtui, whole tree, start-up included", requests, duration, tree_s),
    ], tree_s


def locust(url: str, seconds: int) -> tuple[list[Row], float]:
    run = run_locust(
        url, "/ping", CONNECTIONS, 1000, seconds, user="fast", think=False, core=GENERATOR_CORE
    )
    if run["failures"]:
        raise RuntimeError(f"Locust counted {run['failures']:.0f} failures")
    steady_seconds = run["steady_requests"] / run["rps_locust"]
    return [
        Row("Locust FastHttpUser, steady state", run["steady_requests"], steady_seconds,
            run["steady_cpu_s"]),
        Row("Locust FastHttpUser, whole process", run["requests"], seconds, run["cpu_s"]),
    ], run["cpu_s"]  # fmt: skip


GENERATORS = (wrk, loadtui, locust)
TARGETS = {
    "def": ("FastAPI def route (plain app, uvicorn, thread pool)", plain_fastapi_server),
    "async": ("FastAPI async def /ping (loadtui server, uvicorn)", demo_server),
    "nginx": ("nginx, static 200", nginx_server),
}


def _print_table(title: str, by_generator: dict[str, list[Measured]]) -> None:
    print(f"\n### {title}\n")
    print("| generator | req/s | CPU µs / request | vs wrk | server CPU | others |")
    print("|---|---|---|---|---|---|")
    costs: dict[str, float] = {}
    for rounds in by_generator.values():
        server = statistics.median(m.server_percent for m in rounds)
        others = max(m.others_percent for m in rounds)
        for i, row in enumerate(rounds[0].rows):
            rps = statistics.median(m.rows[i].rps for m in rounds)
            cost = costs[row.generator] = statistics.median(
                m.rows[i].us_per_request for m in rounds
            )
            reference = next(iter(costs.values()))
            print(
                f"| {row.generator} | {rps:,.0f} | {cost:.1f} | {cost / reference:.2f}x | "
                f"{server:.0f} % | {others:.0f} % |"
            )
    engine, (wrk_cost, *_) = costs["loadtui engine process"], costs.values()
    steady = costs["Locust FastHttpUser, steady state"]
    whole = costs["Locust FastHttpUser, whole process"]
    print(
        f"\nloadtui engine: {engine / wrk_cost:.2f}x wrk's CPU per request; {engine / steady:.2f}x "
        f"Locust FastHttpUser's (steady state), {engine / whole:.2f}x (whole process)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--targets", default=",".join(TARGETS), help="comma list of " + ", ".join(TARGETS)
    )
    args = parser.parse_args()
    unknown = set(args.targets.split(",")) - set(TARGETS)
    if unknown:
        parser.error(f"unknown target(s): {', '.join(sorted(unknown))}")
    print(
        f"{CONNECTIONS} connections, no think time, {args.seconds} s per run, server on core "
        f"{SERVER_CORE}, generator on core {GENERATOR_CORE}; medians of {args.rounds} round(s)."
    )
    print("'others': the rest of the machine meanwhile, worst round, % of one core.")
    for key in args.targets.split(","):
        title, server = TARGETS[key]
        by_generator: dict[str, list[Measured]] = {g.__name__: [] for g in GENERATORS}
        with server(core=SERVER_CORE) as (url, pid):
            time.sleep(1.0)
            for _ in range(args.rounds):
                for generator in GENERATORS:
                    by_generator[generator.__name__].append(
                        measured(lambda g=generator: g(url, args.seconds), pid)
                    )
        _print_table(title, by_generator)


if __name__ == "__main__":
    main()
