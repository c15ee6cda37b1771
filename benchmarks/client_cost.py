"""Generator CPU per request: loadtui vs Locust FastHttpUser (and the transports underneath).

Server (`loadtui server`, uvloop + httptools) pinned to core 0, generator pinned to core 1,
the trivial /ping route, 50 users, no think time. Reported: CPU microseconds per request of
the generator process(es).

    make bench-setup && .venv/bin/python -m benchmarks.client_cost [--seconds 20]

Part 1 compares transports inside one asyncio process (uvloop), 50 concurrent workers:
loadtui's httptools Protocol vs httpx with one AsyncClient per worker. Part 2 compares the
whole tools, measured in the same session: `loadtui run` vs Locust FastHttpUser.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import httpx
import uvloop

from benchmarks._common import demo_server, run_loadtui, run_locust
from loadtui.transport import Client, build_request

USERS = 50


async def _workers(make_get, seconds: float) -> int:
    done = 0
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        get, close = await make_get()
        try:
            while time.perf_counter() < stop_at:
                await get()
                done += 1
        finally:
            await close()

    await asyncio.gather(*(worker() for _ in range(USERS)))
    return done


async def lean(url: str, seconds: float) -> int:
    host, port = url.removeprefix("http://").split(":")
    payload = build_request(host, int(port), "/ping")

    async def make():
        client = Client(host, int(port), payload, 10.0)

        async def close():
            client.close()

        return client.get, close

    return await _workers(make, seconds)


async def httpx_per_user(url: str, seconds: float) -> int:
    async def make():
        client = httpx.AsyncClient(base_url=url, trust_env=False)

        async def get():
            (await client.get("/ping")).raise_for_status()

        return get, client.aclose

    return await _workers(make, seconds)


def transport(name: str, bench, url: str, seconds: float) -> None:
    os.sched_setaffinity(0, {1})
    before = time.process_time()
    count = uvloop.run(bench(url, seconds))
    cpu = time.process_time() - before
    print(f"| {name} | {count / seconds:,.0f} | {cpu / count * 1e6:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    with demo_server(core=0) as (url, _pid):
        time.sleep(1)
        print("Part 1: transports in one uvloop process, 50 workers, no think time\n")
        print("| transport | req/s | CPU us / request |\n|---|---|---|")
        transport("loadtui Client (asyncio Protocol + httptools)", lean, url, args.seconds)
        transport("httpx, one AsyncClient per worker", httpx_per_user, url, args.seconds)

        print("\nPart 2: whole generators, same server, 50 users, no think time\n")
        print("| generator | req/s | CPU us / request |\n|---|---|---|")
        doc, tree, engine = run_loadtui(
            ["/ping", "--target", url, "--users", "50", "--spawn-rate", "50",
             "--think-min", "0", "--think-max", "0", "--duration", str(args.seconds)],
            core=1,
        )  # fmt: skip
        requests, rps = doc["summary"]["requests"], doc["summary"]["rps"]
        print(f"| loadtui engine process | {rps:,.0f} | {engine / requests * 1e6:.0f} |")
        whole = tree / requests * 1e6
        print(f"| loadtui, whole tree (engine + probe + CLI) | {rps:,.0f} | {whole:.0f} |")
        stats = run_locust(url, "/ping", 50, 50, args.seconds, user="fast", think=False, core=1)
        rps = stats["requests"] / args.seconds
        print(
            f"| Locust FastHttpUser | {rps:,.0f} | {stats['cpu_s'] / stats['requests'] * 1e6:.0f} |"
        )


if __name__ == "__main__":
    main()
