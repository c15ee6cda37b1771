"""loadtui.engine.request_spec and loadtui.engine.transport end to end: real requests against real
apps written here: a POST with a pydantic body behind a bearer dependency, path parameters from a
data file, a mix, TLS with a certificate made in the test, HTTP edge cases on the wire, and what is
refused before anything is sent. The app's own count of what it accepted is the referee."""

from __future__ import annotations

import json
import resource
import socket
import subprocess
import sys
import time
from collections import Counter
from multiprocessing.connection import Connection

import pytest

from loadtui import exits
from loadtui.engine.messages import (
    EngineConfig,
    EngineFailed,
    EngineFinished,
    EngineRequest,
    IntervalSnapshot,
)
from loadtui.engine.plan import LoadPlan
from loadtui.run import runfile
from tests.apps import accepted
from tests.helpers import loadtui
from tests.servers import RawServer

# counts read from loadtui and from the app, no timing: beside the serial load group
pytestmark = [pytest.mark.e2e]


def test_a_post_with_a_body_behind_a_bearer_token_counts_as_the_app_does(shop, tmp_path):
    out = tmp_path / "run.json"
    result = loadtui(
        "run", "/orders", "--target", shop, "-H", "Authorization: Bearer s3cret",
        "-d", '{"item": "tea", "qty": 2}', "--expect", "201",
        "--users", "5", "--duration", "3", "--json", out,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = runfile.load(out)
    assert doc.summary.errors == 0 and doc.summary.requests > 0
    # a request in flight when the run ended reached the app but was never answered: a user each
    assert 0 <= accepted(shop)["orders"] - doc.summary.requests <= 5


def test_without_the_token_every_request_is_an_error_by_status_and_the_run_fails(shop, tmp_path):
    out = tmp_path / "run.json"
    args = ["run", "/orders", "--target", shop, "-d", '{"item": "tea", "qty": 2}']
    result = loadtui(*args, "--users", "2", "--duration", "2", "--json", out)
    assert result.returncode == exits.FAILED, result.stderr
    doc = runfile.load(out)
    requests = doc.summary.requests
    assert requests > 0 and doc.summary.errors_by_kind == {"http_401": requests}
    assert accepted(shop)["orders"] == 0
    why = f"no request succeeded: {requests:,} of {requests:,} answered 401"
    assert f"result     {why}" in result.stdout.splitlines()
    assert result.stderr.splitlines()[-1] == (
        f"loadtui run: {why}: a failed run (--allow-no-success accepts it)"
    )
    allowed = loadtui(*args, "--users", "2", "--duration", "1", "--allow-no-success")
    assert allowed.returncode == exits.OK, allowed.stderr
    assert "result     no request succeeded: " in allowed.stdout
    assert "no request succeeded" not in allowed.stderr


def test_a_matrix_with_a_run_without_a_success_names_it_and_exits_1(shop, tmp_path):
    # GET /orders is answered 405 Method Not Allowed, every time; GET /items/1 succeeds
    args = ["matrix", "--target", shop, "--routes", "/orders,/items/1", "--users", "2"]
    args += ["--duration", "1"]
    result = loadtui(*args, "--out", tmp_path / "a")
    assert result.returncode == exits.FAILED, result.stderr
    assert len(list(tmp_path.glob("a/*/route-*.json"))) == 2  # every run done and written
    failed = [line for line in result.stderr.splitlines() if "no request succeeded" in line]
    assert len(failed) == 1 and failed[0].startswith("loadtui matrix: /orders@2u: no request ")
    assert failed[0].endswith(" answered 405: a failed run (--allow-no-success accepts it)")
    allowed = loadtui(*args, "--out", tmp_path / "b", "--allow-no-success")
    assert allowed.returncode == exits.OK, allowed.stderr


def test_path_parameters_and_bodies_from_a_data_file(shop, tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"id": n, "item": f"item {n} ü"}) + "\n" for n in (1, 2, 3)))
    result = loadtui(
        "run", "/items/{id}", "--target", shop, "--data-file", rows,
        "--users", "3", "--duration", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert set(accepted(shop)["items"]) == {"1", "2", "3"}
    result = loadtui(
        "run", "/orders", "--target", shop, "-H", "Authorization: Bearer s3cret",
        "-d", '{"item": "{{item}}", "qty": 1}', "--data-file", rows, "--data-order", "random",
        "--users", "2", "--duration", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert set(accepted(shop)["bodies"]) <= {"item 1 ü", "item 2 ü", "item 3 ü"}
    assert len(set(accepted(shop)["bodies"])) >= 2


def test_a_mix_of_named_requests_with_statistics_per_name(shop, tmp_path):
    (tmp_path / "ids.csv").write_text("id\n7\n8\n")
    scenario = tmp_path / "mix.toml"
    scenario.write_text(
        'headers = { Authorization = "Bearer s3cret" }\n'
        '[[requests]]\nname = "item"\npath = "/items/{id}"\ndata_file = "ids.csv"\nweight = 3\n'
        '[[requests]]\nname = "order"\npath = "/orders"\njson = { item = "tea", qty = 1 }\n'
        "expect = [201]\n"
    )
    out = tmp_path / "run.json"
    result = loadtui(
        "run", "--scenario", scenario, "--target", shop, "--users", "6", "--duration", "4",
        "--json", out, "--threshold", "order.p99<5s",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = runfile.load(out)
    by_name = {r.name: r for r in doc.requests}
    assert set(by_name) == {"item", "order"}
    assert by_name["item"].requests + by_name["order"].requests == doc.summary.requests
    assert by_name["item"].requests > by_name["order"].requests  # weight 3 to 1
    # a request in flight when the run ended reached the app but was never answered: a user each
    counted = accepted(shop)
    unanswered = [
        counted["orders"] - by_name["order"].requests,
        sum(counted["items"].values()) - by_name["item"].requests,
    ]
    assert min(unanswered) >= 0 and sum(unanswered) <= 6, unanswered
    assert "request" in result.stdout and "order" in result.stdout


# ---- TLS -------------------------------------------------------------------------------------
def test_https_with_the_test_ca_and_with_k(tls_shop, tmp_path):
    url, ca = tls_shop
    for trust in (["--cacert", str(ca)], ["-k"]):
        result = loadtui(
            "run", "/orders", "--target", url, *trust, "-H", "Authorization: Bearer s3cret",
            "-d", '{"item": "tea", "qty": 1}', "--users", "3", "--duration", "2",
            "--json", tmp_path / "run.json", "--force",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert runfile.load(tmp_path / "run.json").summary.errors == 0
    assert accepted(url, ca)["orders"] > 0


def test_an_untrusted_certificate_is_one_line_before_the_load(tls_shop):
    url, ca = tls_shop
    result = loadtui("run", "/items/1", "--target", url, "--duration", "2")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"loadtui run: target {url}: its certificate is not trusted "
        "(unable to get local issuer certificate); give --cacert FILE, or -k to accept any "
        "certificate"
    ]
    assert accepted(url, ca)["items"] == {}  # nothing was sent


def test_a_cacert_that_is_not_a_certificate_is_refused(tls_shop, tmp_path):
    url, _ = tls_shop
    (tmp_path / "junk.pem").write_text("not a certificate")
    result = loadtui("run", "/items/1", "--target", url, "--cacert", tmp_path / "junk.pem")
    assert result.returncode == 2
    assert "not a readable PEM certificate" in result.stderr
    assert len(result.stderr.splitlines()) == 1


# ---- on the wire, and refused before it ------------------------------------------------------
def test_a_body_that_ends_when_the_server_closes_is_a_response(tmp_path):
    server = RawServer(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nthe body, until close")
    out = tmp_path / "run.json"
    result = loadtui(
        "run", "/x", "--target", f"http://127.0.0.1:{server.port}", "--users", "2",
        "--duration", "2", "--json", out,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = runfile.load(out).summary
    assert summary.requests > 0 and summary.errors == 0


# What the probe may ask of a target that is not instrumented, beside the load.
PROBE_REQUESTS = (b"GET /heartbeat ", b"GET /metrics ", b"GET /identity ", b"GET /stalls ")


def test_ipv6_host_header_non_ascii_path_and_no_fragment(tmp_path):
    server = RawServer(b"HTTP/1.1 204 No Content\r\n\r\n", host="::1")
    result = loadtui(
        "run", "/café?q=ü#frag", "--target", f"http://[::1]:{server.port}", "--users", "1",
        "--duration", "1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # the probe asks the target too (/heartbeat, /metrics, ...), before the load or between
    requests = [chunk.split(b"\r\n") for chunk in server.received]
    load = [lines for lines in requests if not lines[0].startswith(PROBE_REQUESTS)]
    assert load and all(lines[0] == b"GET /caf%C3%A9?q=%C3%BC HTTP/1.1" for lines in load)
    assert all(f"Host: [::1]:{server.port}".encode() in lines for lines in load)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["/a\r\nX-Smuggled: 1"], "control character"),
        (["/a", "-H", "X-A: b\r\nX-Smuggled: 1"], "control character"),
        (["/a", "-H", "no colon"], "no colon"),
        (["/a", "-d", "@/no/such/file"], "cannot read"),
        (["--scenario", "/no/such.toml"], "cannot read"),
        (["/items/{id}"], "no data file"),
    ],
)
def test_bad_requests_are_refused_before_any_connection(args, words):
    server = RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    result = loadtui("run", *args, "--target", f"http://127.0.0.1:{server.port}")
    assert result.returncode == 2 and words in result.stderr
    assert len(result.stderr.splitlines()) == 1
    time.sleep(0.2)
    assert server.received == []


def test_too_few_file_descriptors_is_one_line_naming_the_limit():
    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))

    result = subprocess.run(
        [sys.executable, "-m", "loadtui", "run", "5", "--users", "1500", "--duration", "2"],
        capture_output=True, text=True, timeout=60, preexec_fn=low_limit,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--users 1,500 needs" in result.stderr and "1,024" in result.stderr


ENGINE_WITH_FEW_FILES = """
import resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (60, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
from loadtui.workers import engine_main
engine_main(int(sys.argv[1]))
"""


def test_running_out_of_descriptors_mid_run_is_the_error_kind_emfile(demo_server):
    """An engine given fewer descriptors than users: errors of kind emfile, not a crash."""
    host, port = demo_server.url.removeprefix("http://").split(":")
    payload = f"GET /ping HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    plan = LoadPlan(users=80, spawn_rate=1000, duration_s=2, think_s=(0.05, 0.1))
    config = EngineConfig(host, int(port), (EngineRequest("GET /ping", (payload,)),), plan)
    ours, theirs = socket.socketpair()
    with theirs:
        engine = subprocess.Popen(
            [sys.executable, "-c", ENGINE_WITH_FEW_FILES, str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            stderr=subprocess.PIPE,
        )
    messages: list[object] = []
    with Connection(ours.detach()) as conn:
        conn.send(config)
        while not messages or not isinstance(messages[-1], EngineFinished | EngineFailed):
            assert conn.poll(20), "the engine fell silent"
            messages.append(conn.recv())
    engine.wait(10)
    assert isinstance(messages[-1], EngineFinished), messages[-1]
    snapshots = [m for m in messages if isinstance(m, IntervalSnapshot)]
    errors = Counter[str]()
    for snapshot in snapshots:
        errors.update(snapshot.errors)
    assert errors["emfile"] > 0
    assert sum(s.requests for s in snapshots) > errors.total()  # and the rest got through
