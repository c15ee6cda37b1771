"""Prometheus exposition of the instrumentation's live state, read at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .background import KINDS
from .loopwatch import LoopWatch

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _by_kind(family: GaugeMetricFamily | CounterMetricFamily, values: dict[str, int]) -> Metric:
    for kind in KINDS:
        family.add_metric([kind], values[kind])
    return family


PoolReading = tuple[int, int, int]  # capacity, busy, waiting
Counts = dict[str, dict[str, int]]  # "pending"/"running"/"completed" -> kind -> count


@dataclass(frozen=True)
class MetricSources:
    """What the collector reads at scrape time; every reader is safe from any thread."""

    threadpool: Callable[[], PoolReading | None]
    background: Callable[[], Counts]
    in_flight: Callable[[], int]
    loop: LoopWatch


class InstrumentationCollector(Collector):
    def __init__(self, sources: MetricSources) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        sources = self.sources
        pool = sources.threadpool()
        if pool is not None:
            yield _gauge(
                "loadtui_threadpool_capacity", "AnyIO default thread limiter size.", pool[0]
            )
            yield _gauge("loadtui_threadpool_busy", "Thread pool tokens borrowed.", pool[1])
            yield _gauge("loadtui_threadpool_waiting", "Tasks waiting for a token.", pool[2])
        tasks = sources.background()
        labels = ["kind"]
        yield _by_kind(
            GaugeMetricFamily(
                "loadtui_background_tasks_pending",
                "Background tasks scheduled and not finished (running ones included).",
                labels=labels,
            ),
            tasks["pending"],
        )
        yield _by_kind(
            GaugeMetricFamily(
                "loadtui_background_tasks_running", "Background tasks running.", labels=labels
            ),
            tasks["running"],
        )
        yield _by_kind(
            CounterMetricFamily(
                "loadtui_background_tasks_completed", "Background tasks finished.", labels=labels
            ),
            tasks["completed"],
        )
        watch = sources.loop
        yield _gauge(
            "loadtui_requests_in_flight", "HTTP requests being answered.", sources.in_flight()
        )
        yield _gauge(
            "loadtui_event_loop_tick_age_seconds",
            "Seconds since the event loop's heartbeat last ran.",
            watch.tick_age(),
        )
        yield _gauge(
            "loadtui_event_loop_lag_seconds",
            "Worst heartbeat lag over about the last second.",
            watch.lag(),
        )
        yield CounterMetricFamily(
            "loadtui_event_loop_stalls", "Event loop stalls seen.", value=watch.stalls_total
        )
        yield CounterMetricFamily(
            "loadtui_event_loop_stall_seconds",
            "Seconds the event loop spent stalled (finished stalls).",
            value=watch.stall_seconds_total,
        )


def build_registry(sources: MetricSources) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(InstrumentationCollector(sources))
    for standard in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(standard)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
