"""What a journey costs the engine: CPU per request of a login once per user (a form POST whose
JSON answer's ``access_token`` is extracted) then GETs carrying it as a bearer token, beside a
plain GET with the same fixed header; with the cookie jar on (a scenario's default) and off;
and Locust FastHttpUser doing the same journey. Against nginx (a static 200; ``/login`` a JSON
token) pinned to core 0, the generator pinned to core 1, 50 users, no think time.

    make bench-setup && flock /tmp/loadtui-bench.lock .venv/bin/python -m benchmarks.journey_cost

Issue 23's bounds: the journey within 1.2x the plain GET with a fixed header, and at most half
of Locust FastHttpUser's cost for the same journey.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from benchmarks._common import (
    LOGIN_TOKEN,
    engine_measured_cpu_s,
    locust_fast_us,
    nginx_server,
    run_loadtui_busy,
)

USERS = 50
SERVER_CORE, GENERATOR_CORE = 0, 1
FORM = "username=bench&password=secret"
JOURNEY = f"""
[[setup]]
name = "login"
method = "POST"
path = "/login"
data = "{FORM}"
headers = {{ "Content-Type" = "application/x-www-form-urlencoded" }}
extract = {{ token = "json:access_token" }}

[[requests]]
name = "orders"
path = "/orders"
headers = {{ Authorization = "Bearer {{{{token}}}}" }}
"""


def _engine_us(args: list[str], url: str, seconds: int) -> float:
    doc, _tree = run_loadtui_busy(args, url, USERS, seconds, core=GENERATOR_CORE)
    return engine_measured_cpu_s(doc) / doc["summary"]["requests"] * 1e6


def _locust_us(url: str, seconds: int) -> float:
    return locust_fast_us(url, "/orders", USERS, seconds, GENERATOR_CORE, {"LOADTUI_LOGIN": FORM})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    scenario = Path(tempfile.mkdtemp()) / "journey.toml"
    scenario.write_text(JOURNEY)
    journey = ["--scenario", str(scenario)]
    fixed = ["/orders", "-H", f"Authorization: Bearer {LOGIN_TOKEN}"]
    found: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        with nginx_server(core=SERVER_CORE) as (url, _pid):
            found.setdefault("GET", []).append(_engine_us(fixed, url, args.seconds))
            found.setdefault("journey", []).append(_engine_us(journey, url, args.seconds))
            no_jar = [*journey, "--no-cookies"]
            found.setdefault("no cookies", []).append(_engine_us(no_jar, url, args.seconds))
            found.setdefault("Locust", []).append(_locust_us(url, args.seconds))
    cost = {name: statistics.median(values) for name, values in found.items()}
    print(f"engine CPU µs per request, medians of {args.rounds} rounds of {args.seconds} s:")
    for name, value in cost.items():
        print(f"  {name:<11} {value:6.1f}  {value / cost['GET']:.2f}x the GET with a fixed header")
    print(
        f"journey: {cost['journey'] / cost['GET']:.2f}x the GET (bound 1.2x), "
        f"{cost['journey'] / cost['Locust']:.2f}x Locust FastHttpUser's journey (bound 0.5x); "
        f"without cookies {cost['no cookies'] / cost['GET']:.2f}x"
    )


if __name__ == "__main__":
    main()
