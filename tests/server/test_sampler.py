"""loadtui.server.sampler on real threads: each look marks whether the thread was running Python
(holding the GIL or waiting for it) or inside a call, so pure-Python work in many threads reads
as CPU work though the kernel sees each thread asleep most of the time."""

from __future__ import annotations

import hashlib
import threading
import time

from loadtui.server.appframes import AppCode
from loadtui.server.sampler import Sampler


def spin_python(stop: threading.Event) -> None:
    total = 0
    while not stop.is_set():
        for i in range(10_000):
            total += i * i % 7


def nap(stop: threading.Event) -> None:
    while not stop.is_set():
        time.sleep(0.05)


def hash_password(stop: threading.Event) -> None:
    while not stop.is_set():
        hashlib.pbkdf2_hmac("sha256", b"pw", b"salt", 20_000)


def sampled(workers: dict, seconds: float = 2.5) -> dict[str, dict]:
    """Holders of the 'other' group over ``seconds`` with these threads running, by function."""
    sampler = Sampler(AppCode(["tests"]), loop_thread=None, background_threads=set(), hz=200)
    stop = threading.Event()
    threads = [
        threading.Thread(target=target, args=(stop,), daemon=True)
        for target, count in workers.items()
        for _ in range(count)
    ]
    sampler.seconds()  # asking counts as watching
    sampler.start()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    found = sampler.seconds()
    stop.set()
    sampler.stop()
    for thread in threads:
        thread.join(5)
    holders: dict[str, dict] = {}
    for second in found:
        for holder in second["other"]:
            seen = holders.setdefault(holder["function"], {"threads": 0.0, "python": 0.0})
            seen["threads"] += holder["threads"]
            seen["python"] += holder["threads"] * holder["python"]
    return {f: {**h, "python": h["python"] / h["threads"]} for f, h in holders.items()}


def test_threads_running_python_are_told_from_threads_inside_a_call():
    holders = sampled({spin_python: 3, nap: 2, hash_password: 1})
    assert {"spin_python", "nap", "hash_password"} <= holders.keys(), holders
    assert holders["spin_python"]["python"] >= 0.8, holders  # at a bytecode, its GIL's turn
    assert holders["nap"]["python"] <= 0.05, holders  # in time.sleep
    assert holders["hash_password"]["python"] <= 0.2, holders  # in pbkdf2_hmac, the GIL let go
