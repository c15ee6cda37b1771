"""What serving live metrics (``--prometheus-port``) costs the generator: the engine's CPU per
request with and without the option, the endpoint scraped every second, in alternating pairs
against the same nginx (a static 200, pinned to core 0), loadtui pinned to core 1, 50
connections, no think time; a plain GET, and a mix of three named requests (a histogram pair
per name to keep). Also the whole tree's CPU per request (the exporter runs in loadtui's own
process, beside the run model, not in the engine).

    make bench-setup && flock /tmp/loadtui-bench.lock .venv/bin/python -m benchmarks.prometheus_cost

Issue 24's bound: serving costs the generator at most 2 % CPU per request.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from benchmarks._common import (
    engine_measured_cpu_s,
    nginx_server,
    pinned,
    sample_tree,
    wait_measured,
)
from benchmarks.request_cost import SCENARIO  # the same three named GETs
from loadtui.engine import hdr
from loadtui.engine.messages import EngineStarted, IntervalSnapshot, NameInterval
from loadtui.engine.plan import LoadPlan
from loadtui.engine.request_spec import RequestSpec
from loadtui.run.exporter import LiveMetrics
from loadtui.run.live_figures import Figures
from loadtui.run.model import RunModel
from loadtui.targets.target import Target

CONNECTIONS = 50
SERVER_CORE, GENERATOR_CORE = 0, 1
SCRAPE_EVERY_S = 1.0


def _scrape_every_second(url: str, done: threading.Event, count: list[int]) -> None:
    with httpx.Client(timeout=5) as client:
        while not done.wait(SCRAPE_EVERY_S):
            try:
                client.get(url).raise_for_status()
                count[0] += 1
            except httpx.HTTPError:
                return  # the command has left


def _url(said: Path, proc: subprocess.Popen) -> str:
    """The endpoint the command says on stderr before its load."""
    while proc.poll() is None:
        for line in said.read_text().splitlines():
            if "Prometheus metrics at " in line:
                return line.split(" at ", 1)[1].strip()
        time.sleep(0.05)
    raise RuntimeError(f"loadtui exited with {proc.returncode}: {said.read_text()}")


@dataclass(frozen=True)
class Measured:
    engine_us: float  # the engine's CPU a request, from its own per-second reports
    tree_us: float  # loadtui's whole tree (start-up and, when served, the exporter included)
    rps: float
    scrapes: int


def run(request: list[str], url: str, seconds: int, served: bool) -> Measured:
    """One busy run, its stderr to a file either way (the same work but the option)."""
    where = Path(tempfile.mkdtemp())
    out, said = where / "run.json", where / "stderr.txt"
    command = [sys.executable, "-m", "loadtui", "run", *request, "--target", url]
    command += ["--users", str(CONNECTIONS), "--spawn-rate", "1000", "--think-min", "0"]
    command += ["--think-max", "0", "--duration", str(seconds), "--json", str(out)]
    command += ["--prometheus-port", "0"] if served else []
    with said.open("w") as stderr:
        proc = subprocess.Popen(
            pinned(command, GENERATOR_CORE), stdout=subprocess.DEVNULL, stderr=stderr
        )
    done, scrapes = threading.Event(), [0]
    if served:
        scraper = threading.Thread(
            target=_scrape_every_second, args=(_url(said, proc), done, scrapes)
        )
        scraper.start()
    seen: dict[int, tuple[str, float]] = {}
    finished = wait_measured(proc, lambda: sample_tree(proc.pid, seen))
    done.set()
    doc = json.loads(out.read_text())
    summary = doc["summary"]
    if summary["errors"]:
        raise RuntimeError(f"loadtui counted errors: {summary['errors_by_kind']}")
    requests = summary["requests"]
    return Measured(
        engine_measured_cpu_s(doc) / requests * 1e6,
        finished.cpu_s / requests * 1e6,
        summary["rps"],
        scrapes[0],
    )


def _print(label: str, off: list[Measured], on: list[Measured]) -> None:
    def median(runs: list[Measured], figure: str) -> float:
        return statistics.median(getattr(m, figure) for m in runs)

    pairs = ", ".join(
        f"{a.engine_us:.2f}/{b.engine_us:.2f} ({a.rps / 1000:.0f}k/{b.rps / 1000:.0f}k req/s)"
        for a, b in zip(off, on, strict=True)
    )
    engine_off, engine_on = median(off, "engine_us"), median(on, "engine_us")
    tree_off, tree_on = median(off, "tree_us"), median(on, "tree_us")
    print(
        f"{label}: engine {engine_off:.2f} -> {engine_on:.2f} µs a request "
        f"({engine_on / engine_off - 1:+.1%}); whole tree {tree_off:.2f} -> {tree_on:.2f} "
        f"({tree_on / tree_off - 1:+.1%}); {median(off, 'rps'):,.0f} -> {median(on, 'rps'):,.0f} "
        f"req/s; at least {min(m.scrapes for m in on)} scrapes a served run. Pairs off/on: "
        f"{pairs}"
    )


def _encoded(rng: random.Random, count: int, scale_us: int) -> str:
    histogram = hdr.new_histogram()
    for _ in range(count):  # log-normal, 1 µs to 0.2 s
        hdr.record_us(histogram, int(rng.lognormvariate(0, 1) * scale_us) % 200_000 + 1)
    return hdr.encode(histogram)


def exporter_costs() -> None:
    """The exporter's own work in loadtui's process: a busy second's snapshot (5,000 requests)
    turned into figures, and one scrape of four runs (a TUI's panes) of three names each."""
    rng = random.Random(1)
    latency, first_byte = _encoded(rng, 5000, 2000), _encoded(rng, 5000, 1500)
    single = IntervalSnapshot(1, 0.0, 1.0, 5000, {}, latency, 50, 50, 1.0, 90.0,
                              first_byte_hdr=first_byte)  # fmt: skip
    parts = {name: NameInterval(1700, {}, latency, first_byte) for name in ("a", "b", "c")}
    mix = replace(single, by_name=parts)
    Figures().plus(single, 0, "/x", 0.0)  # the bounds' layout, made once
    for label, snap in (("single request", single), ("mix of three", mix)):
        started, figures = time.process_time(), Figures()
        for _ in range(100):
            figures = figures.plus(snap, 0, "/x", 0.0)
        print(f"{label}: a busy second's snapshot into figures, "
              f"{(time.process_time() - started) * 10:.2f} ms CPU")  # fmt: skip
    live = LiveMetrics.serve(0)
    try:
        for _ in range(4):
            model = RunModel(
                target=Target("http://127.0.0.1:1", "127.0.0.1", 1, "/x"), plan=LoadPlan(),
                mix=tuple(RequestSpec(name=name) for name in parts),
            )  # fmt: skip
            live.watch(model)
            model.add_engine_message(EngineStarted(0.0, time.time()))
            model.add_engine_message(mix)
        with httpx.Client() as client:
            size = len(client.get(live.url).content)
            started = time.process_time()
            for _ in range(100):
                client.get(live.url)
        print(f"a scrape of 4 runs x 3 names ({size:,} bytes): "
              f"{(time.process_time() - started) * 10:.2f} ms CPU, server and client")  # fmt: skip
    finally:
        live.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--workloads", default="GET,mix", help="comma list of GET, mix")
    args = parser.parse_args()
    exporter_costs()
    scenario = Path(tempfile.mkdtemp()) / "mix.toml"
    scenario.write_text(SCENARIO)
    workloads = {"GET": ["/orders"], "mix": ["--scenario", str(scenario)]}
    print(
        f"{CONNECTIONS} connections, no think time, {args.seconds} s a run, nginx on core "
        f"{SERVER_CORE}, loadtui on core {GENERATOR_CORE}; {args.rounds} alternating pairs, "
        f"scraped every {SCRAPE_EVERY_S:g} s with the option. Started {time.strftime('%H:%M')}."
    )
    with nginx_server(core=SERVER_CORE) as (url, _pid):
        for label in args.workloads.split(","):
            request = workloads[label]
            found: dict[bool, list[Measured]] = {False: [], True: []}
            for turn in range(args.rounds):
                for served in (False, True) if turn % 2 == 0 else (True, False):
                    found[served].append(run(request, url, args.seconds, served))
            _print(label, found[False], found[True])
    print(f"Ended {time.strftime('%H:%M')}.")


if __name__ == "__main__":
    main()
