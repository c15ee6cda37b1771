"""loadtui.server.sidecar inside a real uvicorn app: bounded threads, a read deadline, silence when
a client hangs up, a self-description a probe can match to its worker, and a long poll
(``/stalls/wait``) that tells of a stall as it begins and ends without holding a thread."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time

import httpx
import psutil
import pytest

from loadtui.server.sidecar import FEED_WAIT_S, MAX_PARKED, READ_TIMEOUT_S, WORKERS
from tests.apps import serve_app
from tests.helpers import get, wait_for

pytestmark = pytest.mark.e2e

APP = """
    import time
    from fastapi import FastAPI
    from loadtui import instrument

    app = FastAPI()

    def compress_report(seconds):
        time.sleep(seconds)

    @app.get("/block")
    async def block(seconds: float):
        compress_report(seconds)  # blocks the event loop
        return {}

    instrument(app)
"""


@pytest.fixture
def app(tmp_path):
    with serve_app(APP, tmp_path) as served:
        beat = get(served.url + "/heartbeat").json()
        served.sidecar = f"http://127.0.0.1:{beat['sidecar_port']}"  # type: ignore[attr-defined]
        served.sidecar_port = beat["sidecar_port"]  # type: ignore[attr-defined]
        yield served


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def test_150_silent_connections_take_no_thread_and_are_closed_after_the_timeout(app):
    server = psutil.Process(app.proc.pid)
    get(app.sidecar + "/metrics")
    threads_before = server.num_threads()
    silent = [_connect(app.sidecar_port) for _ in range(150)]
    try:
        time.sleep(0.5)
        assert server.num_threads() <= threads_before + WORKERS
        started = time.monotonic()
        assert get(app.sidecar + "/metrics", timeout=2).status_code == 200
        assert time.monotonic() - started < 1.0
        assert server.num_threads() <= threads_before + WORKERS

        def all_closed() -> bool:
            for sock in silent:
                sock.settimeout(0.01)
                try:
                    if sock.recv(1) != b"":
                        return False
                except TimeoutError:
                    return False
                except ConnectionError:
                    pass
            return True

        assert wait_for(all_closed, timeout=READ_TIMEOUT_S + 5, interval=0.5)
    finally:
        for sock in silent:
            sock.close()


def test_a_client_that_trickles_its_request_is_cut_at_the_deadline(app):
    with _connect(app.sidecar_port) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /metrics HTTP/1.1\r\n")
        while time.monotonic() - started < READ_TIMEOUT_S + 3:
            try:
                sock.sendall(b"X-Slow: 1\r\n")
            except OSError:
                break
            sock.settimeout(0.3)
            try:
                if sock.recv(1) == b"":
                    break
            except TimeoutError:
                continue
            except ConnectionError:
                break
        assert time.monotonic() - started < READ_TIMEOUT_S + 2


def _reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_clients_that_hang_up_early_leave_no_traceback(app):
    request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
    for _ in range(20):
        _connect(app.sidecar_port).close()
        with _connect(app.sidecar_port) as sock:
            sock.sendall(request[:10])
        sock = _connect(app.sidecar_port)
        sock.sendall(request)
        _reset(sock)
        sock = _connect(app.sidecar_port)
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        _reset(sock)
    time.sleep(0.5)
    assert get(app.sidecar + "/metrics").status_code == 200
    assert get(app.url + "/heartbeat").status_code == 200
    assert app.stderr().strip() == ""


def test_the_sidecar_says_whose_it_is_and_refuses_what_it_does_not_serve(app):
    beat = get(app.url + "/heartbeat").json()
    identity = get(app.sidecar + "/identity").json()
    assert identity == {
        "service": "loadtui-sidecar",
        "pid": app.proc.pid,
        "host": "127.0.0.1",
        "port": app.sidecar_port,
        "app_paths": {"heartbeat": "/heartbeat", "metrics": "/metrics"},
    }
    assert beat["pid"] == app.proc.pid
    assert (beat["sidecar_host"], beat["sidecar_port"]) == ("127.0.0.1", app.sidecar_port)
    assert get(app.sidecar + "/stalls").json() == {"pid": app.proc.pid, "stalls": []}
    assert get(app.sidecar + "/nope").status_code == 404
    assert httpx.post(app.sidecar + "/metrics", timeout=5).status_code == 405
    with _connect(app.sidecar_port) as sock:
        sock.sendall(b"garbage\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 400 ")


def test_samples_after_a_second_lists_only_the_seconds_after_it(app):
    """The probe asks for the seconds after the newest it heard, not the whole 30 s again."""
    get(app.sidecar + "/samples")  # asking starts the sampler
    assert wait_for(lambda: len(get(app.sidecar + "/samples").json()["seconds"]) >= 3, 15)
    seconds = get(app.sidecar + "/samples").json()["seconds"]
    epochs = [s["second"] for s in seconds]
    after = get(f"{app.sidecar}/samples?after={epochs[1]}").json()["seconds"]
    assert [s["second"] for s in after][: len(epochs) - 2] == epochs[2:]
    assert all(s["second"] > epochs[1] for s in after)
    everything = get(app.sidecar + "/samples?after=nonsense").json()["seconds"]
    assert everything[0]["second"] == epochs[0]


# ---- the long poll ---------------------------------------------------------------------------
def _block(app, seconds: float) -> threading.Thread:
    thread = threading.Thread(target=get, args=(f"{app.url}/block?seconds={seconds}", 30))
    thread.start()
    return thread


def test_a_long_poll_hears_a_stall_as_it_begins_and_as_it_ends(app):
    first = get(app.sidecar + "/stalls/wait").json()  # heard nothing yet: answered at once
    assert first == {"pid": app.proc.pid, "seq": 0, "complete": True, "stalls": []}
    blocking = _block(app, 2.0)
    began = get(app.sidecar + "/stalls/wait?after=0", timeout=10).json()
    # answered while the loop was still blocked: the stall is going on
    [stall] = began["stalls"]
    assert (began["seq"], began["complete"], stall["ongoing"]) == (1, True, True)
    assert stall["culprit"] == "compress_report"
    assert stall["location"].endswith("app_under_test.py:9"), stall
    assert stall["leaf"] == "time.sleep"
    assert stall["duration_s"] < 2.0
    ended = get(app.sidecar + "/stalls/wait?after=1", timeout=10).json()
    blocking.join()
    [stall] = ended["stalls"]
    assert (ended["seq"], stall["ongoing"], stall["culprit"]) == (2, False, "compress_report")
    assert stall["duration_s"] >= 1.5
    assert stall["runqueue_share"] < 0.5  # asleep in time.sleep: not waiting for a CPU
    assert get(app.sidecar + "/stalls").json()["stalls"] == [stall]  # as /stalls lists it


def test_a_long_poll_with_nothing_new_is_answered_after_a_bounded_wait(app):
    started = time.monotonic()
    quiet = get(app.sidecar + "/stalls/wait?after=0", timeout=FEED_WAIT_S + 5)
    waited = time.monotonic() - started
    assert quiet.json() == {"pid": app.proc.pid, "seq": 0, "complete": True, "stalls": []}
    assert FEED_WAIT_S - 0.5 <= waited < FEED_WAIT_S + 3


def _long_poll(port: int) -> socket.socket:
    sock = _connect(port)
    sock.sendall(b"GET /stalls/wait?after=0 HTTP/1.1\r\nHost: x\r\n\r\n")
    return sock


def _answer(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(TimeoutError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_long_polls_hold_no_thread_and_at_most_a_few_wait(app):
    server = psutil.Process(app.proc.pid)
    get(app.sidecar + "/metrics")
    threads_before = server.num_threads()
    waiting = [_long_poll(app.sidecar_port) for _ in range(MAX_PARKED)]
    try:
        time.sleep(0.5)
        # one more is turned away at once; the others take no thread from /metrics
        with _long_poll(app.sidecar_port) as extra:
            assert _answer(extra, 5).startswith(b"HTTP/1.1 503 ")
        for _ in range(3 * WORKERS):
            assert get(app.sidecar + "/metrics", timeout=2).status_code == 200
        assert server.num_threads() <= threads_before + WORKERS
        blocking = _block(app, 0.5)  # news: every waiting one hears it
        answers = [_answer(sock, 10) for sock in waiting]
        blocking.join()
        for answer in answers:
            assert answer.startswith(b"HTTP/1.1 200 ") and b'"ongoing": true' in answer, answer
    finally:
        for sock in waiting:
            sock.close()
    assert get(app.sidecar + "/stalls/wait?after=0").json()["seq"] >= 1
    assert app.stderr().strip() == ""
