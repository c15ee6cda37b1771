"""A hostile target on loopback, run as its own process by tests/test_probe.py:

    python -m tests.hostile PORT MODE [ARG]

It answers the load route (``/x``) politely and lies in its probe endpoints, one way per MODE:

- ``port-trick ARG``: /heartbeat names ``sidecar_port: "1@127.0.0.2:ARG"``, which, pasted
  into a URL, would send the probe to another host;
- ``remote-sidecar``: /heartbeat names a sidecar on a host that is not loopback;
- ``endless-metrics``: /metrics and the sidecar-like /identity stream forever;
- ``endless-heartbeat``: /heartbeat streams forever;
- ``nan``: /metrics holds NaN and infinite gauges, and /heartbeat a NaN lag;
- ``holders``: it is its own sidecar, its thread pool full, and its /samples (the stack
  sampler's seconds) far too many, with negative, non-finite and huge figures and names made of
  markup and terminal escapes;
- ``bad-news``: it is its own sidecar, its loop stalled, and its long poll (/stalls/wait)
  answers at once, every time, with something wrong: huge lists, non-finite, negative or
  missing figures, names of markup and escapes far too long, not JSON, not an object, an
  answer too large;
- ``quick-news``: the same sidecar, whose long poll answers at once, every time, that nothing
  happened; ``/asked`` says how many long polls it was sent.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = b"x" * 65536


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mode = ""
    arg = ""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _stream_forever(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            while True:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
        except OSError:
            return

    def do_GET(self) -> None:
        path, mode = self.path.partition("?")[0], self.mode
        if path == "/x":
            self._send(b'{"ok": true}')
        elif path == "/heartbeat":
            self._heartbeat(mode)
        elif path == "/metrics" and mode == "endless-metrics":
            self._stream_forever()
        elif mode == "holders" and path in HOLDERS_ROUTES:
            self._send(json.dumps(HOLDERS_ROUTES[path]()).encode())
        elif mode in ("bad-news", "quick-news") and path in NEWS_ROUTES:
            with contextlib.suppress(OSError):  # the probe drops an answer beyond its cap
                self._send(NEWS_ROUTES[path](mode))
        elif path == "/metrics" and mode == "holders":
            self._send(FULL_POOL, "text/plain")
        elif path == "/metrics" and mode == "nan":
            self._send(
                b"# TYPE loadtui_threadpool_busy gauge\nloadtui_threadpool_busy NaN\n"
                b"# TYPE loadtui_threadpool_capacity gauge\nloadtui_threadpool_capacity +Inf\n"
                b"# TYPE loadtui_event_loop_lag_seconds gauge\n"
                b"loadtui_event_loop_lag_seconds -Inf\n"
                b"# TYPE loadtui_requests_in_flight gauge\nloadtui_requests_in_flight 3\n",
                "text/plain",
            )
        else:
            self.send_error(404)

    def _heartbeat(self, mode: str) -> None:
        answer: dict[str, object] = {"ok": True, "pid": 1, "lag_s": 0.001}
        if mode == "port-trick":
            answer["sidecar_port"] = f"1@127.0.0.2:{self.arg}"
        elif mode == "remote-sidecar":
            answer.update(sidecar_port=9100, sidecar_host="192.0.2.10")
        elif mode == "endless-heartbeat":
            self._stream_forever()
            return
        elif mode == "nan":
            self._send(b'{"ok": true, "pid": 1, "lag_s": NaN, "sidecar_port": 1e400}')
            return
        elif mode in ("holders", "bad-news", "quick-news"):
            answer.update(pid=os.getpid(), sidecar_port=self.server.server_address[1])
        self._send(json.dumps(answer).encode())


FULL_POOL = (
    b"# TYPE loadtui_threadpool_busy gauge\nloadtui_threadpool_busy 40\n"
    b"# TYPE loadtui_threadpool_capacity gauge\nloadtui_threadpool_capacity 40\n"
    b"# TYPE loadtui_threadpool_waiting gauge\nloadtui_threadpool_waiting 9\n"
)
NASTY = "[bold red]owned[/] \x1b[2J\x1b]0;title\x07" + "x" * 400


def _holder(n: int) -> dict[str, object]:
    threads = [float("nan"), -5.0, 1e308, float("inf"), 40.0][n % 5]
    return {
        "function": f"{NASTY}{n}" if n else "hash[/]password\x1b[31m",
        "location": NASTY,
        "leaf": NASTY,
        "threads": threads if n else 40.0,
        "on_cpu": [float("nan"), -1.0, 7.0, 0.5][n % 4],
        "python": [7.0, float("-inf"), "all", -0.5, 0.3][n % 5],
        "waiting_for": NASTY,
        "db_pool": NASTY,
        "background": "yes",
    }


def _samples() -> dict[str, object]:
    now = int(time.time())
    seconds = [
        {"second": now - 1 - k, "looks": 100, "loop_busy": [1e9, -1, float("nan")][k % 3]}
        | {group: [_holder(n) for n in range(30)] for group in ("loop", "pool", "other")}
        for k in range(12)
    ]
    seconds.append({"second": "soon", "pool": [_holder(0)]})
    seconds.append({"second": 10**30, "pool": [_holder(0)]})
    return {"pid": os.getpid(), "seconds": seconds}


HOLDERS_ROUTES = {
    "/identity": lambda: {"service": "loadtui-sidecar", "pid": os.getpid(), "app_paths": {}},
    "/samples": _samples,
    "/stalls": lambda: {"pid": os.getpid(), "stalls": []},
}


STALLED = (
    b"# TYPE loadtui_event_loop_tick_age_seconds gauge\nloadtui_event_loop_tick_age_seconds 0.5\n"
    b"# TYPE loadtui_event_loop_stalls_total counter\nloadtui_event_loop_stalls_total 3\n"
)
_asked = itertools.count(1)
_told = [0]  # long polls answered


def _stall(n: int) -> dict[str, object]:
    return {
        "started_at": NASTY,
        "started_at_epoch": [time.time() - 0.5 - n / 10000, float("nan"), 1e400, "now"][n % 4],
        "duration_s": [0.005, -1.0, float("inf"), None][n // 4 % 4],
        "ongoing": True,
        "culprit": f"{NASTY}{n}" if n else "read[/]items\x1b[31m",
        "location": NASTY * 3,
        "leaf": [NASTY * 3, ["a list"], 7, None][n // 16 % 4],
        "stack": [NASTY] * 20,
    }


BAD = [
    lambda: json.dumps({"seq": "1", "stalls": {"not": "a list"}, "complete": "yes"}).encode(),
    lambda: b"[1, 2, 3]",
    lambda: b"{not json",
    lambda: b'{"seq": 2, "stalls": ["' + b"x" * (5 * 1024 * 1024) + b'"]}',  # beyond the cap
]


def _news(mode: str) -> bytes:
    _told[0] = asked = next(_asked)
    if mode == "quick-news":
        return json.dumps({"pid": os.getpid(), "seq": 0, "complete": True, "stalls": []}).encode()
    if asked % 2:  # every other answer is a list of stalls (2 MB), most of them wrong
        stalls = [_stall(n) for n in range(200)]
        return json.dumps({"pid": os.getpid(), "seq": asked, "stalls": stalls}).encode()
    return BAD[asked // 2 % len(BAD)]()


NEWS_ROUTES = {
    "/identity": lambda _mode: json.dumps(
        {"service": "loadtui-sidecar", "pid": os.getpid(), "app_paths": {}}
    ).encode(),
    "/metrics": lambda _mode: STALLED,
    "/stalls/wait": _news,
    "/asked": lambda _mode: json.dumps({"long_polls": _told[0]}).encode(),
}


def main() -> None:
    port, Handler.mode = int(sys.argv[1]), sys.argv[2]
    Handler.arg = sys.argv[3] if len(sys.argv) > 3 else ""
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
