"""loadtui.run.exporter and loadtui.run.live_figures: a run model's figures served in
Prometheus's format on loopback, scraped over real HTTP and read with prometheus_client's
parser; models fed by hand (tests/synthetic.py), as a runner feeds them."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import psutil
import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from loadtui.engine import hdr
from loadtui.engine.messages import (
    EngineFinished,
    EngineStarted,
    IntervalSnapshot,
    NameInterval,
)
from loadtui.engine.plan import LoadPlan
from loadtui.engine.request_spec import RequestSpec
from loadtui.run.exporter import LiveMetrics
from loadtui.run.live_figures import BOUNDS_S, Buckets
from loadtui.run.model import RunModel
from tests.synthetic import EPOCH, T0, TARGET, histogram, snapshot

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def live() -> Iterator[LiveMetrics]:
    served = LiveMetrics.serve(0, linger_s=30.0)
    try:
        yield served
    finally:
        served.close()


def scraped(live: LiveMetrics) -> Samples:
    text = httpx.get(live.url, timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, metric: str, **labels: str) -> float:
    return samples[(f"loadtui_client_{metric}", tuple(sorted(labels.items())))]


def mixed_model(**changes: object) -> RunModel:
    mix = (RequestSpec(name="list", path="/items"), RequestSpec(name="one", path="/items/1"))
    model = RunModel(target=TARGET, plan=LoadPlan(users=4, duration_s=3), mix=mix)
    return replace(model, **changes) if changes else model


def mixed_second(second: int, engine_users: int = 4) -> IntervalSnapshot:
    """Second ``second`` of a mix: `list` three requests (one a 500), `one` two (one refused)."""
    parts = {
        "list": NameInterval(3, {"http_500": 1}, histogram([0.4, 3.0, 240.0]), histogram([0.3])),
        "one": NameInterval(2, {"refused": 1}, histogram([1.5, 70.0]), histogram([1.0])),
    }
    base = snapshot(second, [0.4, 3.0, 240.0, 1.5, 70.0], users=engine_users, in_flight=2)
    errors = {"http_500": 1, "refused": 1}
    return replace(base, errors=errors, by_name=parts, cpu_percent=12.0 + second)


def test_the_endpoint_serves_what_the_model_holds_by_name_and_kind(live):
    model = mixed_model()
    live.watch(model)
    model.add_engine_message(EngineStarted(T0, EPOCH))
    for second in (1, 2, 3):
        model.add_engine_message(mixed_second(second))
    samples = scraped(live)
    run = model.run_id
    for stats in model.request_stats():
        name = stats.name
        assert value(samples, "requests_total", run_id=run, name=name) == stats.requests
        for kind, count in stats.errors_by_kind.items():
            assert value(samples, "errors_total", run_id=run, name=name, kind=kind) == count
        total = hdr.decode(stats.histogram.data).get_total_count()
        count = value(samples, "request_duration_seconds_count", run_id=run, name=name)
        assert count == total == stats.requests
        inf = value(samples, "request_duration_seconds_bucket", run_id=run, name=name, le="+Inf")
        assert inf == total
    # list's latencies 0.4, 3 and 240 ms, three times: 3 below 1 ms, 6 below 5 ms, 9 below 0.25 s
    list_bucket = {
        le: value(samples, "request_duration_seconds_bucket", run_id=run, name="list", le=le)
        for le in ("0.001", "0.005", "0.1", "0.25")
    }
    assert list_bucket == {"0.001": 3, "0.005": 6, "0.1": 6, "0.25": 9}
    total_s = value(samples, "request_duration_seconds_sum", run_id=run, name="list")
    assert total_s == pytest.approx(3 * (0.0004 + 0.003 + 0.24), rel=1e-3)
    assert value(samples, "time_to_first_byte_seconds_count", run_id=run, name="one") == 3
    assert value(samples, "users", run_id=run) == 4
    assert value(samples, "in_flight_requests", run_id=run) == 2
    assert value(samples, "achieved_rps", run_id=run) == pytest.approx(5.0)
    assert value(samples, "engine_cpu_percent", run_id=run, engine="0") == 15.0
    assert value(samples, "run_elapsed_seconds", run_id=run) == pytest.approx(3.0)
    assert value(samples, "run_start_time_seconds", run_id=run) == EPOCH
    assert value(samples, "run_done", run_id=run) == 0
    info = value(samples, "run_info", run_id=run, route="/x", target=TARGET.url, mode="closed",
                 version=__import__("loadtui").__version__)  # fmt: skip
    assert info == 1


def test_a_single_requests_figures_are_named_after_its_route_and_an_open_loop_has_its_rate(live):
    model = RunModel(target=TARGET, plan=LoadPlan(mode="open", users=8, rate=250.0))
    live.watch(model)
    model.add_engine_message(EngineStarted(T0, EPOCH))
    model.add_engine_message(snapshot(1, [5.0, 6.0], errors={"timeout": 1}))
    samples = scraped(live)
    run = model.run_id
    assert value(samples, "requests_total", run_id=run, name="/x") == model.summary().requests
    assert value(samples, "errors_total", run_id=run, name="/x", kind="timeout") == 1
    assert value(samples, "intended_rps", run_id=run) == 250.0


def test_several_engines_add_up_and_each_has_its_cpu(live):
    model = mixed_model(engines=2)
    live.watch(model)
    model.add_engine_message(EngineStarted(T0, EPOCH), 0)
    model.add_engine_message(EngineStarted(T0, EPOCH), 1)
    for engine in (0, 1):
        model.add_engine_message(
            replace(mixed_second(1, engine_users=2), cpu_percent=30.0 + engine), engine
        )
    samples = scraped(live)
    run = model.run_id
    assert value(samples, "requests_total", run_id=run, name="list") == 6
    assert value(samples, "users", run_id=run) == 4
    assert value(samples, "engine_cpu_percent", run_id=run, engine="1") == 31.0


@pytest.mark.parametrize(
    ("values_us", "le", "expected"),
    [
        ([999, 1000, 1001], "0.001", 2),  # below 2048 µs HDR is exact
        ([24_990, 25_100], "0.025", 1),
        ([59_000_000, 61_000_000, 3_000_000_000], "60", 1),
    ],
)
def test_buckets_count_the_hdr_values_at_or_below_each_bound(values_us, le, expected):
    recorded = hdr.new_histogram()
    for microseconds in values_us:
        hdr.record_us(recorded, microseconds)
    buckets = Buckets().plus(hdr.encode(recorded))
    by_le = dict(zip([f"{b:g}" for b in BOUNDS_S], buckets.counts, strict=False))
    assert by_le[le] == expected
    assert buckets.count == len(values_us)
    assert buckets.sum_s == pytest.approx(sum(values_us) / 1e6, rel=1e-3)


def test_a_scrape_of_the_final_figures_ends_the_linger(live):
    model = mixed_model()
    live.watch(model)
    model.add_engine_message(EngineStarted(T0, EPOCH))
    model.add_engine_message(mixed_second(1))
    scraped(live)  # figures, not final yet: lingering waits
    model.add_engine_message(EngineFinished("duration"))
    assert not live.all_scraped()
    waited = threading.Thread(target=live.linger)
    started = time.monotonic()
    waited.start()
    samples = scraped(live)
    waited.join(10)
    assert not waited.is_alive() and time.monotonic() - started < 10
    assert value(samples, "run_done", run_id=model.run_id) == 1
    assert live.all_scraped()


def test_unscraped_final_figures_linger_at_most_the_linger_then_go():
    live = LiveMetrics.serve(0, linger_s=0.5)
    try:
        model = mixed_model()
        live.watch(model)
        model.add_engine_message(EngineStarted(T0, EPOCH))
        model.add_engine_message(mixed_second(1))
        model.add_engine_message(EngineFinished("duration"))
        started = time.monotonic()
        live.linger()
        assert 0.4 < time.monotonic() - started < 5
        assert not live.all_scraped()
        time.sleep(0.1)
        assert (
            "loadtui_client_requests_total",
            (("name", "list"), ("run_id", model.run_id)),
        ) not in scraped(live)
    finally:
        live.close()


def test_linger_ends_when_asked_to_stop(live):
    model = mixed_model()
    live.watch(model)
    model.add_engine_message(EngineFinished("stopped"))
    started = time.monotonic()
    live.linger(stop=lambda: True)
    assert time.monotonic() - started < 1


def test_it_listens_on_loopback_only_with_a_registry_of_its_own(live):
    model = mixed_model()
    live.watch(model)
    model.add_engine_message(EngineStarted(T0, EPOCH))
    model.add_engine_message(mixed_second(1))
    assert live.url == f"http://127.0.0.1:{live.port}/metrics"
    listening = [
        c.laddr.ip
        for c in psutil.Process().net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == live.port
    ]
    assert listening == ["127.0.0.1"]
    assert "loadtui_client" not in generate_latest(REGISTRY).decode()
    assert scraped(live)  # served


def test_a_port_in_use_cannot_be_had():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            LiveMetrics.serve(taken.getsockname()[1])
