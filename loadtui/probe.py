"""The probe: watches the server beside every run, about four times a second.

- The metrics sidecar (``/metrics``, parsed with prometheus_client's parser, and ``/stalls``):
  thread pool, background backlog, loop tick age and lag, stalls with their culprits. The
  sidecar lives outside the server's event loop, so it answers while the loop is blocked.
- The app's ``/heartbeat``, on a dedicated connection with a short timeout: a read timeout
  while the sidecar reports a growing tick age is a stall, seen live.
- psutil on the server's process (spawned by loadtui, or found listening on the loopback
  port): CPU, RSS, threads, open fds. This works even while the loop is blocked.

A target without loadtui's instrumentation still runs: the probe reports which signals are
missing and carries on with what it has. It runs on a thread of its own, with its own event
loop, and talks httpx (two clients, a few requests a second).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from loadtui.server_samples import (
    ALL_SIGNALS,
    SIGNAL_APP_METRICS,
    SIGNAL_HEARTBEAT,
    SIGNAL_PROCESS,
    SIGNAL_SIDECAR,
    STALL_THRESHOLD_S,
    ServerSample,
    Stall,
)
from loadtui.target import Target

PROBE_INTERVAL_S = 0.25
HEARTBEAT_TIMEOUT_S = 0.5
SIDECAR_TIMEOUT_S = 1.0
STALLS_EVERY_S = 1.0


def parse_metrics(text: str) -> dict[str, Any]:
    """The loadtui_* gauges and counters from a Prometheus text exposition."""
    # prometheus_client's parser is pure Python: give it only our ~30 of the ~90 lines
    ours = "\n".join(
        line
        for line in text.splitlines()
        if line.startswith(("loadtui_", "# HELP loadtui_", "# TYPE loadtui_"))
    )
    found: dict[str, Any] = {}
    for family in text_string_to_metric_families(ours):
        if not family.name.startswith("loadtui_"):
            continue
        for sample in family.samples:
            kind = sample.labels.get("kind")
            if kind is None:
                found[sample.name] = sample.value
            else:
                found.setdefault(sample.name, {})[kind] = int(sample.value)
    return found


def find_listener_pid(host: str, port: int) -> int | None:
    """The process listening on a loopback port, if this user may see it."""
    with contextlib.suppress(psutil.Error, OSError):
        addresses = (host, "0.0.0.0", "::", "127.0.0.1", "::1")
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status != psutil.CONN_LISTEN or not conn.laddr or conn.pid is None:
                continue
            if conn.laddr.port == port and conn.laddr.ip in addresses:
                return conn.pid
    return None


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass
class _Seen:
    """What the probe learned so far."""

    metrics_url: str | None = None
    metrics_source: str | None = None  # SIGNAL_SIDECAR or SIGNAL_APP_METRICS
    heartbeat_ok: bool | None = None
    heartbeat_ms: float | None = None
    heartbeat_ever: bool = False
    metrics: dict[str, Any] = field(default_factory=dict)
    metrics_fresh: bool = False
    ongoing_culprit: str | None = None


class Probe:
    def __init__(
        self,
        target: Target,
        on_sample: Callable[[ServerSample], None],
        on_stalls: Callable[[list[Stall]], None],
        on_signals: Callable[[list[str], list[str]], None],
        interval_s: float = PROBE_INTERVAL_S,
    ) -> None:
        self.target = target
        self.on_sample = on_sample
        self.on_stalls = on_stalls
        self.on_signals = on_signals
        self.interval_s = interval_s
        self._seen = _Seen(
            metrics_url=target.metrics_url,
            metrics_source=SIGNAL_SIDECAR if target.metrics_url else None,
        )
        pid = target.pid or find_listener_pid(target.host, target.port)
        self._process = psutil.Process(pid) if pid and psutil.pid_exists(pid) else None
        if self._process is not None:
            self._process.cpu_percent(None)  # the first reading only sets the baseline
        self._thread = threading.Thread(target=self._run, name="loadtui-probe", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._signals: tuple[list[str], list[str]] | None = None

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        client_options: dict[str, Any] = {
            "trust_env": False,  # never through a proxy: the target is on loopback
            "limits": httpx.Limits(max_connections=1, max_keepalive_connections=1),
        }
        async with (
            httpx.AsyncClient(timeout=SIDECAR_TIMEOUT_S, **client_options) as sidecar,
            httpx.AsyncClient(timeout=HEARTBEAT_TIMEOUT_S, **client_options) as heartbeat,
        ):
            tasks = [
                asyncio.create_task(self._heartbeats(heartbeat)),
                asyncio.create_task(self._sampler(sidecar)),
            ]
            await self._stop.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # ---- heartbeat ---------------------------------------------------------------------
    async def _heartbeats(self, client: httpx.AsyncClient) -> None:
        url = f"{self.target.url}/heartbeat"
        seen = self._seen
        while True:
            started = time.perf_counter()
            try:
                response = await client.get(url)
                if response.status_code == 404:  # not instrumented: nothing to watch here
                    return
                body = response.json()
                seen.heartbeat_ok = response.status_code == 200
                seen.heartbeat_ms = round((time.perf_counter() - started) * 1000, 2)
                seen.heartbeat_ever = True
                port = body.get("sidecar_port") if isinstance(body, dict) else None
                if port and seen.metrics_source != SIGNAL_SIDECAR:
                    seen.metrics_url = f"http://{self.target.host}:{port}"
                    seen.metrics_source = SIGNAL_SIDECAR
            except (httpx.HTTPError, ValueError):
                seen.heartbeat_ok, seen.heartbeat_ms = False, None
            pause = self.interval_s - (time.perf_counter() - started)
            await asyncio.sleep(max(0.0, pause))

    # ---- sidecar, psutil, samples ------------------------------------------------------
    async def _sampler(self, client: httpx.AsyncClient) -> None:
        await self._find_app_metrics(client)
        last_stalls = 0.0
        while True:
            started = time.monotonic()
            await self._read_metrics(client)
            stalls_total = self._seen.metrics.get("loadtui_event_loop_stalls_total")
            stalled = self._stalled_now()
            due = started - last_stalls >= STALLS_EVERY_S
            if self._seen.metrics_source == SIGNAL_SIDECAR and (stalls_total or stalled) and due:
                await self._read_stalls(client)
                last_stalls = started
            self.on_sample(self._sample(stalled))
            self._report_signals()
            await asyncio.sleep(max(0.0, self.interval_s - (time.monotonic() - started)))

    async def _find_app_metrics(self, client: httpx.AsyncClient) -> None:
        """Without a sidecar in sight, the app's own /metrics may still carry our gauges."""
        await asyncio.sleep(self.interval_s)  # give the heartbeat a chance to name the sidecar
        if self._seen.metrics_url is not None:
            return
        with contextlib.suppress(httpx.HTTPError):
            response = await client.get(f"{self.target.url}/metrics")
            if response.status_code == 200 and "loadtui_" in response.text:
                self._seen.metrics_url = self.target.url
                self._seen.metrics_source = SIGNAL_APP_METRICS

    async def _read_metrics(self, client: httpx.AsyncClient) -> None:
        seen = self._seen
        seen.metrics_fresh = False
        if seen.metrics_url is None:
            return
        try:
            response = await client.get(f"{seen.metrics_url}/metrics")
            if response.status_code == 200:
                seen.metrics = parse_metrics(response.text)
                seen.metrics_fresh = bool(seen.metrics)
        except (httpx.HTTPError, ValueError):
            pass

    async def _read_stalls(self, client: httpx.AsyncClient) -> None:
        try:
            response = await client.get(f"{self._seen.metrics_url}/stalls")
            raw = response.json().get("stalls", [])
        except (httpx.HTTPError, ValueError, AttributeError):
            return
        stalls = [
            Stall(
                started_at=str(s["started_at"]),
                started_epoch=float(s["started_at_epoch"]),
                duration_s=float(s["duration_s"]),
                ongoing=bool(s["ongoing"]),
                culprit=str(s["culprit"]),
                location=str(s.get("location", "")),
                stack=tuple(s.get("stack", ())),
            )
            for s in raw
            if isinstance(s, dict) and "started_at_epoch" in s
        ]
        ongoing = [s for s in stalls if s.ongoing]
        self._seen.ongoing_culprit = ongoing[-1].culprit if ongoing else None
        if stalls:
            self.on_stalls(stalls)

    def _stalled_now(self) -> bool:
        seen = self._seen
        if seen.metrics_fresh:
            age = seen.metrics.get("loadtui_event_loop_tick_age_seconds")
            if age is not None:
                return age > STALL_THRESHOLD_S
        # No tick age to read: an app whose heartbeat answered before and now times out.
        return seen.heartbeat_ever and seen.heartbeat_ok is False

    def _sample(self, stalled: bool) -> ServerSample:
        seen = self._seen
        m = seen.metrics if seen.metrics_fresh else {}
        process = self._process_stats()
        return ServerSample(
            mono=time.monotonic(),
            threadpool_capacity=_int(m.get("loadtui_threadpool_capacity")),
            threadpool_busy=_int(m.get("loadtui_threadpool_busy")),
            threadpool_waiting=_int(m.get("loadtui_threadpool_waiting")),
            background_pending=m.get("loadtui_background_tasks_pending"),
            background_running=m.get("loadtui_background_tasks_running"),
            background_completed=m.get("loadtui_background_tasks_completed_total"),
            requests_in_flight=_int(m.get("loadtui_requests_in_flight")),
            tick_age_s=m.get("loadtui_event_loop_tick_age_seconds"),
            loop_lag_s=m.get("loadtui_event_loop_lag_seconds"),
            heartbeat_ms=seen.heartbeat_ms if seen.heartbeat_ok else None,
            heartbeat_ok=seen.heartbeat_ok,
            stalled_now=stalled,
            stall_culprit=seen.ongoing_culprit if stalled else None,
            **process,
        )

    def _process_stats(self) -> dict[str, Any]:
        process = self._process
        if process is None:
            return {}
        try:
            with process.oneshot():
                return {
                    "cpu_percent": round(process.cpu_percent(None), 2),
                    "rss_bytes": process.memory_info().rss,
                }
        except psutil.Error:
            self._process = None
            return {}

    def _report_signals(self) -> None:
        seen = self._seen
        available = []
        if seen.metrics_source and seen.metrics:
            available.append(seen.metrics_source)
        # instrument(app) always adds /heartbeat: with its sidecar in sight, a heartbeat that
        # has not answered yet is blocked, not missing
        if seen.heartbeat_ever or (seen.metrics_source == SIGNAL_SIDECAR and seen.metrics):
            available.append(SIGNAL_HEARTBEAT)
        if self._process is not None:
            available.append(SIGNAL_PROCESS)
        missing = [s for s in ALL_SIGNALS if s not in available]
        if SIGNAL_APP_METRICS in available:
            missing.remove(SIGNAL_SIDECAR)
        signals = (available, missing)
        if signals != self._signals:
            self._signals = signals
            self.on_signals(available, missing)
