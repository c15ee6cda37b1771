"""What request features cost the engine: CPU per request of a plain GET, of a POST with three
headers and a 200-byte JSON body, of a mix of three named GETs (weights and per-name
statistics), and of a GET over TLS, all against the same nginx (a static 200 to any method,
pinned to core 0), the engine pinned to core 1, 50 connections, no think time; and Locust
FastHttpUser sending the same POST, for the ratio the project keeps (engine ≤ 0.5x Locust's).

    make bench-setup && flock /tmp/loadtui-bench.lock .venv/bin/python -m benchmarks.request_cost

Issue 12's bounds: the POST within 1.2x the plain GET; per-name statistics within 1.1x.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from benchmarks._common import (
    engine_measured_cpu_s,
    locust_fast_us,
    nginx_server,
    run_loadtui_busy,
)

CONNECTIONS = 50
SERVER_CORE, GENERATOR_CORE = 0, 1
HEADERS = {
    "Authorization": "Bearer 0123456789abcdef0123456789abcdef",
    "X-Request-Source": "loadtui-benchmark",
    "Accept-Language": "en-GB,en;q=0.9",
}
BODY = json.dumps(
    {"item": "green tea, loose leaf", "qty": 2, "customer": "c-0001", "notes": "x" * 122}
)
SCENARIO = """
[[requests]]
name = "list"
path = "/orders"
weight = 3

[[requests]]
name = "one"
path = "/orders/1"
weight = 2

[[requests]]
name = "two"
path = "/orders/2"
weight = 1
"""  # GETs like the plain one: what the mix adds is picking by weight and counting per name


def _engine_us(args: list[str], url: str, seconds: int) -> float:
    doc, _tree = run_loadtui_busy(args, url, CONNECTIONS, seconds, core=GENERATOR_CORE)
    return engine_measured_cpu_s(doc) / doc["summary"]["requests"] * 1e6


def _post_args() -> list[str]:
    headers = [part for name, value in HEADERS.items() for part in ("-H", f"{name}: {value}")]
    return ["/orders", *headers, "-d", BODY]


def _locust_post_us(url: str, seconds: int) -> float:
    shape = {
        "LOADTUI_METHOD": "POST",
        "LOADTUI_HEADERS": json.dumps({**HEADERS, "Content-Type": "application/json"}),
        "LOADTUI_BODY": BODY,
    }
    return locust_fast_us(url, "/orders", CONNECTIONS, seconds, GENERATOR_CORE, shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    assert len(BODY) == 200, len(BODY)
    scenario = Path(tempfile.mkdtemp()) / "mix.toml"
    scenario.write_text(SCENARIO)
    found: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        with nginx_server(core=SERVER_CORE) as (url, _pid):
            found.setdefault("GET", []).append(_engine_us(["/orders"], url, args.seconds))
            found.setdefault("POST", []).append(_engine_us(_post_args(), url, args.seconds))
            mix = ["--scenario", str(scenario)]
            found.setdefault("mix", []).append(_engine_us(mix, url, args.seconds))
            found.setdefault("Locust POST", []).append(_locust_post_us(url, args.seconds))
        with nginx_server(core=SERVER_CORE, tls=True) as (url, _pid):
            tls = ["/orders", "-k"]
            found.setdefault("GET over TLS", []).append(_engine_us(tls, url, args.seconds))
    cost = {name: statistics.median(values) for name, values in found.items()}
    print(f"engine CPU µs per request, medians of {args.rounds} rounds of {args.seconds} s:")
    for name, value in cost.items():
        print(f"  {name:<14} {value:6.1f}  {value / cost['GET']:.2f}x the plain GET")
    print(
        f"POST: {cost['POST'] / cost['GET']:.2f}x the GET (bound 1.2x), "
        f"{cost['POST'] / cost['Locust POST']:.2f}x Locust FastHttpUser's POST (bound 0.5x); "
        f"a mix of three names: {cost['mix'] / cost['GET']:.2f}x (bound 1.1x); "
        f"TLS: {cost['GET over TLS'] / cost['GET']:.2f}x"
    )


if __name__ == "__main__":
    main()
