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
from loadtui.engine.messages import IntervalSnapshot
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


def _name(metric: str) -> str:
    return f"{PREFIX}_{metric}"


class _Families:
    """Every run's samples, one family a metric name (the format allows no second)."""

    def __init__(self) -> None:
        run, name = ["run_id"], ["run_id", "name"]
        engine = ["run_id", "engine"]
        self.info = InfoMetricFamily(
            _name("run"),
            "One a run: its route, target, mode and loadtui's version.",
            labels=run,
        )
        self.requests = CounterMetricFamily(
            _name("requests"), "Requests completed, failed ones included.", labels=name
        )
        self.errors = CounterMetricFamily(
            _name("errors"),
            "Failed requests by kind (refused, timeout, http_500, ...).",
            labels=[*name, "kind"],
        )
        self.latency = HistogramMetricFamily(
            _name("request_duration_seconds"),
            "Latency, send to last byte (open loop: from the intended send time).",
            labels=name,
        )
        self.first_byte = HistogramMetricFamily(
            _name("time_to_first_byte_seconds"),
            "From the request's start, as latency counts it, to the response's first byte.",
            labels=name,
        )
        self.users = GaugeMetricFamily(
            _name("users"),
            "Users running (open loop: connections busy), newest second.",
            labels=run,
        )
        self.in_flight = GaugeMetricFamily(
            _name("in_flight_requests"), "Requests sent and not answered yet.", labels=run
        )
        self.intended = GaugeMetricFamily(
            _name("intended_rps"),
            "Open loop: the requests per second the run asks for.",
            labels=run,
        )
        self.achieved = GaugeMetricFamily(
            _name("achieved_rps"), "Requests completed per second, newest second.", labels=run
        )
        self.cpu = GaugeMetricFamily(
            _name("engine_cpu_percent"), "An engine process's CPU, % of one core.", labels=engine
        )
        self.lag = GaugeMetricFamily(
            _name("engine_loop_lag_seconds"),
            "An engine's own event-loop lag, worst in its newest second.",
            labels=engine,
        )
        self.elapsed = GaugeMetricFamily(
            _name("run_elapsed_seconds"), "Seconds of load so far.", labels=run
        )
        self.started = GaugeMetricFamily(
            _name("run_start_time_seconds"), "When the load began (Unix time).", labels=run
        )
        self.done = GaugeMetricFamily(
            _name("run_done"),
            "1 once the run's load has ended: its figures are final.",
            labels=run,
        )

    def add(self, model: RunModel, figures: Figures, done: bool) -> None:
        run = [model.run_id]
        self.info.add_metric(
            run,
            {
                "route": model.variant_key or model.target.route,
                "target": model.target.url,
                "mode": model.plan.mode,
                "version": __version__,
            },
        )
        for name, totals in figures.by_name.items():
            self.requests.add_metric([*run, name], totals.requests)
            for kind, count in sorted(totals.errors.items()):
                self.errors.add_metric([*run, name, kind], count)
            _histogram(self.latency, [*run, name], totals.latency)
            if totals.first_byte.count:
                _histogram(self.first_byte, [*run, name], totals.first_byte)
        engines = figures.engines.values()
        self.users.add_metric(run, sum(e.users for e in engines))
        self.in_flight.add_metric(run, sum(e.in_flight for e in engines))
        self.achieved.add_metric(run, sum(e.rps for e in engines))
        if model.plan.rate is not None:
            self.intended.add_metric(run, model.plan.rate)
        for index, gauges in sorted(figures.engines.items()):
            self.cpu.add_metric([*run, str(index)], gauges.cpu_percent)
            self.lag.add_metric([*run, str(index)], gauges.loop_lag_ms / 1000.0)
        self.elapsed.add_metric(run, figures.elapsed_s)
        if model.started_epoch is not None:
            self.started.add_metric(run, model.started_epoch)
        self.done.add_metric(run, 1.0 if done else 0.0)

    def all(self) -> list[Metric]:
        return [
            self.info,
            self.requests,
            self.errors,
            self.latency,
            self.first_byte,
            self.users,
            self.in_flight,
            self.intended,
            self.achieved,
            self.cpu,
            self.lag,
            self.elapsed,
            self.started,
            self.done,
        ]


def _histogram(family: HistogramMetricFamily, labels: list[str], buckets: Buckets) -> None:
    family.add_metric(labels, list(zip(_LE, buckets.counts, strict=True)), buckets.sum_s)
