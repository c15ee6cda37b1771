"""What the first byte's timing and streams cost the engine (issue 23, part 3).

1. A plain GET against nginx (a static 200, pinned to core 0; the engine on core 1, 50
   connections, no think time): engine CPU µs per request with this tree and, given
   ``--baseline DIR`` (a source tree of loadtui before first-byte timing, made with
   ``git archive <commit> | tar -x -C DIR``), with that one, in alternating pairs on the same
   machine. Bound: this tree ≤ 1.05x the baseline.
2. A stream of 100 small SSE events a response (``benchmarks/sse_server.py``, each event its own
   chunk): engine CPU µs per event, with the events a loop turn apart (mostly a read each) and
   in one burst. Bound: ≤ 2 µs an event.
3. Locust FastHttpUser reading the same stream line by line (``LOADTUI_STREAM=1``,
   benchmarks/locustfile.py), and wrk (C, which reads the stream as one chunked body and times
   nothing in it: the floor that reading the stream's bytes costs), for comparison.

    make bench-setup && flock /tmp/loadtui-bench.lock .venv/bin/python -m benchmarks.stream_cost \\
        --baseline /tmp/loadtui-before
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from benchmarks._common import (
    ROOT,
    _stop,
    _wait_listening,
    engine_measured_cpu_s,
    locust_fast_us,
    nginx_server,
    pinned,
    run_loadtui_busy,
    run_wrk,
)
from loadtui.engine import hdr

CONNECTIONS = 50
SERVER_CORE, GENERATOR_CORE = 0, 1
EVENTS = 100


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def sse_server(burst: bool) -> Iterator[str]:
    port = _free_port()
    command = [sys.executable, "-m", "benchmarks.sse_server", "--port", str(port)]
    command += ["--events", str(EVENTS)] + (["--burst"] if burst else [])
    proc = subprocess.Popen(pinned(command, SERVER_CORE), cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


def get_us(url: str, seconds: int, baseline: str | None = None) -> float:
    env = {"PYTHONPATH": baseline} if baseline else None
    doc, _tree = run_loadtui_busy(
        ["/orders"], url, CONNECTIONS, seconds, core=GENERATOR_CORE, env=env
    )
    return engine_measured_cpu_s(doc) / doc["summary"]["requests"] * 1e6


def stream_us(url: str, seconds: int, baseline: str | None = None) -> tuple[float, float]:
    """Engine CPU µs per event, and reads per event (pieces: a stream's gaps plus its first);
    with ``baseline``, that tree's engine reading the same streams (untimed: it parses and drops
    bodies), and no reads figure."""
    env = {"PYTHONPATH": baseline} if baseline else None
    doc, _tree = run_loadtui_busy(
        ["/events"], url, CONNECTIONS, seconds, core=GENERATOR_CORE, env=env
    )
    if baseline:
        return engine_measured_cpu_s(doc) / (doc["summary"]["requests"] * EVENTS) * 1e6, 0.0
    stream = doc["summary"]["stream"]
    if stream["events"] != EVENTS * stream["streams"]:
        raise RuntimeError(f"{stream['events']} events in {stream['streams']} streams")
    gap = stream["histograms"].get("gap")
    pieces = (hdr.decode(gap["data"]).total_count if gap else 0) + stream["streams"]
    return engine_measured_cpu_s(doc) / stream["events"] * 1e6, pieces / stream["events"]


def wrk_us(url: str, seconds: int) -> float:
    """wrk's CPU µs per event of the same streams."""
    run = run_wrk(url + "/events", CONNECTIONS, seconds, core=GENERATOR_CORE)
    if run.errors:
        raise RuntimeError(f"wrk counted {run.errors} errors")
    return run.cpu_s / (run.requests * EVENTS) * 1e6


def locust_us(url: str, seconds: int) -> float:
    per_stream = locust_fast_us(
        url, "/events", CONNECTIONS, seconds, GENERATOR_CORE, {"LOADTUI_STREAM": "1"}
    )
    return per_stream / EVENTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", help="a source tree of loadtui to compare the GET with")
    parser.add_argument("--no-locust", action="store_true")
    args = parser.parse_args()
    found: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        with nginx_server(core=SERVER_CORE) as (url, _pid):
            for name, tree in (("GET", None), ("GET baseline", args.baseline)):
                if name == "GET" or tree:
                    found.setdefault(name, []).append(get_us(url, args.seconds, tree))
        for burst in (False, True):
            with sse_server(burst) as url:
                name = "burst" if burst else "apart"
                us, reads = stream_us(url, args.seconds)
                found.setdefault(f"SSE {name}", []).append(us)
                found.setdefault(f"SSE {name} reads/event", []).append(reads)
                if args.baseline:
                    before, _ = stream_us(url, args.seconds, args.baseline)
                    found.setdefault(f"SSE {name} baseline", []).append(before)
                found.setdefault(f"SSE {name} wrk", []).append(wrk_us(url, args.seconds))
                if not burst and not args.no_locust:
                    found.setdefault("Locust SSE apart", []).append(locust_us(url, args.seconds))
    cost = {name: statistics.median(values) for name, values in found.items()}
    print(f"medians of {args.rounds} rounds of {args.seconds} s (each: {found})")
    print(f"  plain GET, engine CPU µs per request: {cost['GET']:.2f}")
    if "GET baseline" in cost:
        ratio = cost["GET"] / cost["GET baseline"]
        pairs = [a / b for a, b in zip(found["GET"], found["GET baseline"], strict=True)]
        print(
            f"  ... baseline {cost['GET baseline']:.2f}: {ratio:.3f}x (bound 1.05x); "
            f"pairs {', '.join(f'{p:.3f}' for p in pairs)}"
        )
    for name in ("apart", "burst"):
        before = cost.get(f"SSE {name} baseline")
        print(
            f"  SSE, {EVENTS} events a stream, {name}: {cost[f'SSE {name}']:.2f} µs an event "
            f"(bound 2), {cost[f'SSE {name} reads/event']:.2f} reads an event"
            + (f"; baseline (untimed) {before:.2f}" if before is not None else "")
            + f"; wrk {cost[f'SSE {name} wrk']:.2f}"
        )
    if "Locust SSE apart" in cost:
        print(f"  Locust FastHttpUser reading them: {cost['Locust SSE apart']:.2f} µs an event")


if __name__ == "__main__":
    main()
