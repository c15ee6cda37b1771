"""Live metrics out: the generator's own figures of every run it watches, in Prometheus's
exposition format, served on loopback while the runs go (``--prometheus-port``).

Fed from the run model: each engine message, once the model has added it, updates the run's
:class:`~loadtui.run.live_figures.Figures` (the snapshot's histograms decoded there, once); a
scrape only reads the newest figures, on the server's own thread, with a registry of its own.
A run's series stay for ``linger_s`` after its load ended, so that a scraper sees its final
figures whatever its interval; :meth:`LiveMetrics.linger` lets a command wait for that scrape.

Used as::

    live = LiveMetrics.serve(port)          # OSError: the port cannot be had (nothing started)
    run_to_end(spec, ..., on_model=live.watch)
    live.linger(stop)                       # until the final figures are scraped, or linger_s
    live.close()
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from loadtui import __version__
from loadtui.engine import schedule
from loadtui.engine.messages import IntervalSnapshot
from loadtui.engine.plan import LoadPlan
from loadtui.run.live_figures import BOUNDS_S, Buckets, Figures
from loadtui.run.model import RunModel

HOST = "127.0.0.1"
DEFAULT_LINGER_S = 20.0  # a 15 s scrape interval, and some
PREFIX = "loadtui_client"  # the instrumented app's sidecar serves loadtui_* of the server side
_LE = [*(f"{bound:g}" for bound in BOUNDS_S), "+Inf"]


@dataclass
class _Watched:
    model: RunModel
    figures: Figures = field(default_factory=Figures)
    done_at: float | None = None  # when its load ended (as heard, or as a scrape first saw)
    final_scraped: bool = False

    def heard(self, message: object, engine: int) -> None:
        """A message the model has just added (on the thread that added it, under its lock)."""
        model = self.model
        if isinstance(message, IntervalSnapshot):
            t0 = model.t0_mono if model.t0_mono is not None else message.started_mono
            self.figures = self.figures.plus(message, engine, model.target.route, t0)
        elif model.engine_done and self.done_at is None:
            self.done_at = time.monotonic()

    @property
    def done(self) -> bool:
        """Its load ended: every figure is in (the engines' last snapshots come before)."""
        return self.model.engine_done or self.model.finished


class LiveMetrics:
    """The runs' figures on http://127.0.0.1:PORT/metrics."""

    def __init__(self, linger_s: float = DEFAULT_LINGER_S) -> None:
        self.linger_s = linger_s
        self._runs: dict[str, _Watched] = {}
        self._lock = threading.RLock()
        self._scraped = threading.Condition(self._lock)
        self._server = None
        self.port = 0

    @classmethod
    def serve(cls, port: int, linger_s: float = DEFAULT_LINGER_S) -> LiveMetrics:
        """Listen on loopback ``port`` (0: a free one, then in ``.port``). OSError when the
        port cannot be had."""
        live = cls(linger_s)
        registry = CollectorRegistry(auto_describe=False)
        collector = _RunsCollector(live)
        registry.register(collector)
        app = _Told(make_wsgi_app(registry), collector)
        live._server = server = make_server(HOST, port, app, _Server, handler_class=_Quiet)
        live.port = server.server_port
        threading.Thread(
            target=server.serve_forever, name="loadtui-prometheus", daemon=True
        ).start()
        return live

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/metrics"

    def watch(self, model: RunModel) -> None:
        """Serve ``model``'s figures from now on (call it before the model's first message)."""
        watched = _Watched(model)
        with self._lock:
            self._runs[model.run_id] = watched
        model.listen(watched.heard)

    def linger(self, stop: Callable[[], bool] = lambda: False) -> None:
        """Wait until a scrape has read the final figures of every run still served, at most
        ``linger_s``, or until ``stop()``."""
        deadline = time.monotonic() + self.linger_s
        with self._lock:
            while not self.all_scraped() and not stop():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._scraped.wait(min(0.2, left))

    def all_scraped(self) -> bool:
        """Every run served has ended and had its final figures scraped."""
        with self._lock:
            return all(watched.final_scraped for watched in self._runs.values())

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def scrape(self) -> list[tuple[_Watched, Figures, bool]]:
        """The runs served, each with its figures and whether they are final; a run whose load
        ended more than ``linger_s`` ago is served no more."""
        now = time.monotonic()
        with self._lock:
            served = []
            for run_id, watched in list(self._runs.items()):
                done = watched.done  # before the figures: final figures, once it holds
                if done and watched.done_at is None:
                    watched.done_at = now
                if watched.done_at is not None and now - watched.done_at > self.linger_s:
                    del self._runs[run_id]
                    continue
                served.append((watched, watched.figures, done))
            return served

    def scraped(self, finals: list[_Watched]) -> None:
        with self._lock:
            for watched in finals:
                watched.final_scraped = True
            self._scraped.notify_all()


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """No line on stderr for each scrape."""


class _RunsCollector(Collector):
    """Every watched run's figures; which final ones each scrape read, by the thread serving it
    (told to the exporter once the answer is sent: the command may then leave)."""

    def __init__(self, live: LiveMetrics) -> None:
        self.live = live
        self.finals = threading.local()

    def collect(self) -> Iterator[Metric]:
        served = self.live.scrape()
        families = _Families()
        for watched, figures, done in served:
            families.add(watched.model, figures, done)
        self.finals.read = [watched for watched, _figures, done in served if done]
        yield from families.all()

    def sent(self) -> None:
        self.live.scraped(getattr(self.finals, "read", []))
        self.finals.read = []


class _Told:
    """prometheus_client's WSGI app, telling the collector when its answer has been sent."""

    def __init__(self, app: Callable, collector: _RunsCollector) -> None:
        self.app = app
        self.collector = collector

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        return _Body(self.app(environ, start_response), self.collector.sent)


class _Body(list):
    """A response body (a list, so that its length is sent); the server closes it once sent."""

    def __init__(self, parts: Iterable[bytes], on_sent: Callable[[], None]) -> None:
        super().__init__(parts)
        self.on_sent = on_sent

    def close(self) -> None:
        self.on_sent()


_RUN, _NAME, _ENGINE = ("run_id",), ("run_id", "name"), ("run_id", "engine")
# key: (family, metric name after the prefix, help, labels); in the order they are served
_SERVED: dict[str, tuple[type[Metric], str, str, tuple[str, ...]]] = {
    "info": (
        InfoMetricFamily, "run", "One a run: its route, target, mode and loadtui's version.", _RUN
    ),
    "requests": (
        CounterMetricFamily, "requests", "Requests completed, failed ones included.", _NAME
    ),
    "errors": (
        CounterMetricFamily, "errors", "Failed requests by kind (refused, timeout, http_500, ...).",
        (*_NAME, "kind"),
    ),
    "latency": (
        HistogramMetricFamily, "request_duration_seconds",
        "Latency, send to last byte (open loop: from the intended send time).", _NAME,
    ),
    "first_byte": (
        HistogramMetricFamily, "time_to_first_byte_seconds",
        "From the request's start, as latency counts it, to the response's first byte.", _NAME,
    ),
    "users": (
        GaugeMetricFamily, "users", "Users running (open loop: connections busy), newest second.",
        _RUN,
    ),
    "in_flight": (
        GaugeMetricFamily, "in_flight_requests", "Requests sent and not answered yet.", _RUN
    ),
    "intended": (
        GaugeMetricFamily, "intended_rps", "Open loop: the requests per second the run asks for.",
        _RUN,
    ),
    "achieved": (
        GaugeMetricFamily, "achieved_rps", "Requests completed per second, newest second.", _RUN
    ),
    "cpu": (
        GaugeMetricFamily, "engine_cpu_percent", "An engine process's CPU, % of one core.",
        _ENGINE,
    ),
    "lag": (
        GaugeMetricFamily, "engine_loop_lag_seconds",
        "An engine's own event-loop lag, worst in its newest second.", _ENGINE,
    ),
    "elapsed": (GaugeMetricFamily, "run_elapsed_seconds", "Seconds of load so far.", _RUN),
    "started": (
        GaugeMetricFamily, "run_start_time_seconds", "When the load began (Unix time).", _RUN
    ),
    "done": (
        GaugeMetricFamily, "run_done", "1 once the run's load has ended: its figures are final.",
        _RUN,
    ),
}  # fmt: skip


class _Families:
    """Every run's samples, one family a metric name (the format allows no second)."""

    def __init__(self) -> None:
        # Any: each family's add_metric takes its own kind of value
        self.served: dict[str, Any] = {
            key: family(f"{PREFIX}_{metric}", doc, labels=list(labels))
            for key, (family, metric, doc, labels) in _SERVED.items()
        }

    def add(self, model: RunModel, figures: Figures, done: bool) -> None:
        served, run = self.served, [model.run_id]
        info = {
            "route": model.variant_key or model.target.route,
            "target": model.target.url,
            "mode": model.plan.mode,
            "version": __version__,
        }
        served["info"].add_metric(run, info)
        for name, totals in figures.by_name.items():
            served["requests"].add_metric([*run, name], totals.requests)
            for kind, count in sorted(totals.errors.items()):
                served["errors"].add_metric([*run, name, kind], count)
            _histogram(served["latency"], [*run, name], totals.latency)
            if totals.first_byte.count:
                _histogram(served["first_byte"], [*run, name], totals.first_byte)
        engines = figures.engines.values()
        gauges = {
            "users": sum(e.users for e in engines),
            "in_flight": sum(e.in_flight for e in engines),
            "achieved": sum(e.rps for e in engines),
            "intended": _intended(model.plan, figures.elapsed_s),
            "elapsed": figures.elapsed_s,
            "started": model.started_epoch,
            "done": 1.0 if done else 0.0,
        }
        for key, value in gauges.items():
            if value is not None:
                served[key].add_metric(run, value)
        for index, engine in sorted(figures.engines.items()):
            served["cpu"].add_metric([*run, str(index)], engine.cpu_percent)
            lag_s = engine.loop_lag_ms / 1000.0
            served["lag"].add_metric([*run, str(index)], lag_s)

    def all(self) -> list[Metric]:
        return list(self.served.values())


def _histogram(family: HistogramMetricFamily, labels: list[str], buckets: Buckets) -> None:
    counts = list(zip(_LE, buckets.counts, strict=True))
    family.add_metric(labels, counts, buckets.sum_s)


def _intended(plan: LoadPlan, elapsed_s: float) -> float | None:
    """Open loop: the rate asked now (a ramp's, as its stages say); None in a closed loop."""
    if plan.mode != "open":
        return None
    return schedule.rate_at(plan.stages, elapsed_s) if plan.stages else plan.rate
