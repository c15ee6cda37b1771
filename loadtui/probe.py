"""The probe: watches the server beside every run, about four times a second, every worker
process of it.

- Discovery, which needs no event loop to answer: the processes serving the target's port and
  the other sockets each listens on (:mod:`loadtui.probing.discovery`); a socket whose ``/identity``
  names that process is its metrics sidecar. A spawned server's sidecar is known, ``--metrics
  URL`` names one, a heartbeat's answer hints at one. Discovery is retried during the run.
- Each worker's sidecar (``/metrics``, parsed with prometheus_client's parser, and ``/stalls``):
  thread pool, background backlog, loop tick age and lag, stalls with their culprits. The
  sidecar lives outside the worker's event loop, so it answers while the loop is blocked.
  One long poll per sidecar (``/stalls/wait``) hears each stall as it begins and ends, and hands
  it on at once; a sidecar without it (an older loadtui) has its ``/stalls`` read once a second.
- The app's ``/heartbeat``, on a dedicated connection with a short timeout; its answer names
  the worker (pid) that gave it.
- psutil on each worker: CPU, RSS. This works even while a loop is blocked.

Nothing a target says is trusted: every URL is checked against the loopback rule before it is
fetched, every request has a total deadline and a cap on its body, ports and pids must be
integers in range, non-finite numbers are dropped. A failure of the probe itself is reported
(it becomes a verdict), never silence. The probe runs on a thread of its own, with its own
event loop, and talks httpx (a few requests a second per worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from loadtui.probing.discovery import other_listeners, serving_workers
from loadtui.probing.samples import (
    ALL_SIGNALS,
    SIGNAL_APP_METRICS,
    SIGNAL_HEARTBEAT,
    SIGNAL_PROCESS,
    SIGNAL_SIDECAR,
    STALL_THRESHOLD_S,
    ServerSample,
    Stall,
    ThreadsLook,
)
from loadtui.probing.threads import parse_samples, share
from loadtui.targets.target import Target, base_url

PROBE_INTERVAL_S = 0.25
HEARTBEAT_TIMEOUT_S = 0.5
SIDECAR_TIMEOUT_S = 1.0  # the whole request, body included
IDENTITY_TIMEOUT_S = 0.5
STALLS_EVERY_S = 1.0  # /stalls, from a sidecar without the long poll
WAIT_PATH = "/stalls/wait"
WAIT_DEADLINE_S = 10.0  # a sidecar answers a long poll within ~5.5 s, news or not
WAIT_GAP_S = 0.05  # between long polls: a sidecar answering at once is not asked in a loop
WAIT_RETRY_S = 2.0  # after a long poll that failed (the sidecar's /stalls is read meanwhile)
MAX_NEWS = 64
SAMPLES_EVERY_S = 1.0  # the stack sampler's seconds: one new one a second
DISCOVER_EVERY_S = 2.0
MAX_BODY_BYTES = 4 * 1024 * 1024  # /stalls with 256 stacks of 40 frames is well under this
MAX_SMALL_BODY_BYTES = 64 * 1024  # /heartbeat, /identity
SIDECAR_SERVICE = "loadtui-sidecar"
_PATH = re.compile(r"/[\x21-\x7e]{0,200}")


class FetchError(Exception):
    """A probe request that got no usable answer."""


class _NoLongPoll(Exception):
    """A sidecar of an older loadtui, without ``/stalls/wait``."""


# ---- reading what a target says, checked -------------------------------------------------------
def parse_metrics(text: str) -> dict[str, Any]:
    """The loadtui_* gauges and counters from a Prometheus text exposition; a value that is
    not a finite number is dropped."""
    # prometheus_client's parser is pure Python: give it only our ~30 of the ~90 lines
    ours = "\n".join(
        line
        for line in text.splitlines()
        if line.startswith(("loadtui_", "# HELP loadtui_", "# TYPE loadtui_"))
    )
    found: dict[str, Any] = {}
    for family in text_string_to_metric_families(ours):
        for sample in family.samples:
            if not sample.name.startswith("loadtui_") or not math.isfinite(sample.value):
                continue
            kind = sample.labels.get("kind")
            if kind is None:
                found[sample.name] = sample.value
            elif len(kind) <= 40:
                found.setdefault(sample.name, {})[kind] = int(sample.value)
    return found


def _integer(value: Any, low: int, high: int) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    return None


def _port(value: Any) -> int | None:
    return _integer(value, 1, 65535)


def _pid(value: Any) -> int | None:
    return _integer(value, 1, 2**31)


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _text(value: Any, limit: int = 300) -> str:
    return str(value)[:limit]


def _stall(raw: Any, pid: int | None) -> Stall | None:
    if not isinstance(raw, dict):
        return None
    started, duration = _number(raw.get("started_at_epoch")), _number(raw.get("duration_s"))
    if started is None or duration is None or duration < 0:
        return None
    stack, leaf = raw.get("stack"), raw.get("leaf")
    return Stall(
        started_at=_text(raw.get("started_at", ""), 40),
        started_epoch=started,
        duration_s=duration,
        ongoing=raw.get("ongoing") is True,
        culprit=_text(raw.get("culprit", "unknown")),
        location=_text(raw.get("location", "")),
        stack=tuple(_text(line) for line in stack[:60]) if isinstance(stack, list) else (),
        pid=pid,
        leaf=leaf[:300] if isinstance(leaf, str) else "",  # absent from older sidecars
        runqueue_share=share(raw.get("runqueue_share")) or 0.0,
    )


@dataclass(frozen=True)
class News:
    """A ``/stalls/wait`` answer, checked: the stalls that began or ended since the last."""

    seq: int  # the number of the newest news: the next long poll asks after it
    complete: bool  # False: news was missed (read /stalls for the rest)
    stalls: list[Stall]


def _news(body: bytes, pid: int | None) -> News | None:
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(answer, dict):
        return None
    seq, raw = _integer(answer.get("seq"), 0, 2**53), answer.get("stalls")
    if seq is None or not isinstance(raw, list):
        return None
    pid = _pid(answer.get("pid")) or pid
    stalls = [s for r in raw[-MAX_NEWS:] if (s := _stall(r, pid)) is not None]
    return News(seq, answer.get("complete") is True, stalls)


def _cores(process: psutil.Process) -> int | None:
    """How many CPUs the process may run on: its affinity where the system tells it."""
    with contextlib.suppress(psutil.Error, AttributeError, NotImplementedError):
        return len(process.cpu_affinity()) or None
    return psutil.cpu_count() or None


# ---- one worker process ----------------------------------------------------------------------
@dataclass
class Worker:
    """What the probe knows of one worker process."""

    pid: int | None
    sidecar: str | None = None  # its sidecar's base URL
    process: psutil.Process | None = None
    cores: int | None = None  # the CPUs the process may run on (its affinity)
    metrics: dict[str, Any] = field(default_factory=dict)
    sidecar_ok: bool | None = None
    stalls_read: float = 0.0  # when /stalls was last read (monotonic)
    # the long poll: the number of the news heard last, whether it holds (a request in flight,
    # the last answer good), whether news was missed (then /stalls is read once)
    news_seq: int | None = field(default=None, init=False)
    news_live: bool = field(default=False, init=False)
    news_missed: bool = field(default=False, init=False)
    news_task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    samples_read: float = 0.0  # when /samples was last read (monotonic)
    samples_newest: int = 0  # the newest second of /samples handed on (epoch)
    samples_absent: bool = False  # a sidecar without a stack sampler (older, or switched off)
    ongoing: Stall | None = None  # its loop's current stall, as /stalls last said

    def watch_process(self) -> None:
        if self.pid is None or self.process is not None:
            return
        with contextlib.suppress(psutil.Error):
            self.process = psutil.Process(self.pid)
            self.process.cpu_percent(None)  # the first reading only sets the baseline
            self.cores = _cores(self.process)

    def process_stats(self) -> dict[str, Any]:
        process = self.process
        if process is None:
            return {}
        try:
            with process.oneshot():
                return {
                    "cpu_percent": round(process.cpu_percent(None), 2),
                    "rss_bytes": process.memory_info().rss,
                    "cpu_cores": self.cores,
                }
        except psutil.Error:
            self.process = None
            return {}

    def stalled(self) -> bool:
        age = self.metrics.get("loadtui_event_loop_tick_age_seconds") if self.sidecar_ok else None
        return age is not None and age > STALL_THRESHOLD_S


@dataclass
class Heartbeat:
    ok: bool | None = None
    ms: float | None = None
    ever: bool = False
    pid: int | None = None  # the worker that answered last
    path: str = "/heartbeat"
    absent: bool = False  # 404: the app is not instrumented
    # where it is asked: the server's root (instrument(app) serves it there, whatever prefix
    # the target's routes have), then the target's prefix (a proxy that passes only that)
    bases: list[str] = field(default_factory=list)


# ---- the probe -----------------------------------------------------------------------------------
class Probe:
    def __init__(
        self,
        target: Target,
        on_look: Callable[[list[ServerSample]], None],
        on_stalls: Callable[[list[Stall]], None],
        on_signals: Callable[[list[str], list[str]], None],
        on_failure: Callable[[str], None],
        interval_s: float = PROBE_INTERVAL_S,
        on_threads: Callable[[list[ThreadsLook]], None] | None = None,
    ) -> None:
        self.target = target
        self.on_threads = on_threads
        self.on_look = on_look
        self.on_stalls = on_stalls
        self.on_signals = on_signals
        self.on_failure = on_failure
        self.interval_s = interval_s
        self.workers: dict[int | None, Worker] = {}
        self.heartbeat = Heartbeat(bases=list(dict.fromkeys([target.origin, target.url])))
        self._app_metrics = False  # no sidecar anywhere, but the app's /metrics has ours
        self._hinted: set[tuple[int, str, int]] = set()  # (pid, host, port) from heartbeats
        self._failed = False
        self._signals: tuple[list[str], list[str]] | None = None
        self._thread = threading.Thread(target=self._run, name="loadtui-probe", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        if target.metrics_url is not None:
            self.workers[target.pid] = Worker(target.pid, sidecar=target.metrics_url)

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
        try:
            asyncio.run(self._main())
        except Exception as exc:  # the thread must never end without a word
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        if not self._failed:
            self._failed = True
            self.on_failure(f"{type(exc).__name__}: {exc}"[:300])

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        options: dict[str, Any] = {
            "trust_env": False,  # never through a proxy: the target is on loopback
            "follow_redirects": False,
        }
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with (
            httpx.AsyncClient(timeout=SIDECAR_TIMEOUT_S, **options) as sidecars,
            httpx.AsyncClient(
                timeout=HEARTBEAT_TIMEOUT_S,
                limits=limits,
                verify=self.target.ssl_context() or True,  # the app may be https; sidecars not
                **options,
            ) as app,
        ):
            tasks = [
                asyncio.create_task(self._heartbeats(app)),
                asyncio.create_task(self._sampler(sidecars)),
            ]
            await self._stop.wait()
            tasks += [w.news_task for w in self.workers.values() if w.news_task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # ---- fetching, checked -------------------------------------------------------------
    async def _get(
        self, client: httpx.AsyncClient, url: str, deadline: float, limit: int
    ) -> tuple[int, bytes]:
        """GET with a total deadline and a cap on the body; only to a permitted host."""
        host = urlsplit(url).hostname or ""
        if not self.target.permits(host):
            raise FetchError(f"{host} is not a host loadtui may probe")
        try:
            async with (
                asyncio.timeout(deadline),
                client.stream("GET", url, timeout=deadline) as response,
            ):
                body = bytearray()
                async for chunk in response.aiter_raw():
                    body += chunk
                    if len(body) > limit:
                        raise FetchError(f"{url}: the answer is larger than {limit} bytes")
                return response.status_code, bytes(body)
        except (TimeoutError, httpx.HTTPError, OSError) as exc:
            raise FetchError(f"{url}: {type(exc).__name__}") from None

    async def _get_json(
        self, client: httpx.AsyncClient, url: str, deadline: float, limit: int
    ) -> Any:
        status, body = await self._get(client, url, deadline, limit)
        if status != 200:
            raise FetchError(f"{url}: HTTP {status}")
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise FetchError(f"{url}: not JSON") from None

    # ---- heartbeat -----------------------------------------------------------------------
    async def _heartbeats(self, client: httpx.AsyncClient) -> None:
        beat = self.heartbeat
        while not beat.absent:
            started = time.perf_counter()
            try:
                await self._heartbeat(client)
            except FetchError:
                beat.ok, beat.ms = False, None
            except Exception as exc:
                self._fail(exc)
            pause = self.interval_s - (time.perf_counter() - started)
            await asyncio.sleep(max(0.0, pause))

    async def _heartbeat(self, client: httpx.AsyncClient) -> None:
        beat = self.heartbeat
        started = time.perf_counter()
        url = f"{beat.bases[0]}{beat.path}"
        status, body = await self._get(client, url, HEARTBEAT_TIMEOUT_S, MAX_SMALL_BODY_BYTES)
        if status == 404:  # not here; nowhere: not instrumented, nothing to watch
            beat.bases = beat.bases[1:]
            beat.absent, beat.ok = not beat.bases, None
            return
        try:
            answer = json.loads(body)
        except (ValueError, RecursionError):
            answer = None
        beat.ok = status == 200
        beat.ms = round((time.perf_counter() - started) * 1000, 2) if beat.ok else None
        beat.ever = beat.ever or beat.ok
        if not isinstance(answer, dict):
            return
        beat.pid = _pid(answer.get("pid"))
        port = _port(answer.get("sidecar_port"))
        host = answer.get("sidecar_host")
        if beat.pid is not None and port is not None:
            wildcard = not isinstance(host, str) or host in ("", "0.0.0.0", "::")
            self._hinted.add((beat.pid, self.target.host if wildcard else host[:100], port))

    # ---- discovery -----------------------------------------------------------------------
    async def _discover(self, client: httpx.AsyncClient) -> None:
        named = self.workers.get(None)
        if named is not None and named.sidecar is not None:  # --metrics: whose is it?
            pid = await self._identify(client, named.sidecar)
            if pid is not None:
                self.workers = {pid: replace(named, pid=pid)}
        if self.target.metrics_url is None:
            self._find_workers()
        for worker in list(self.workers.values()):
            worker.watch_process()
            if worker.sidecar is None and worker.pid is not None:
                worker.sidecar = await self._find_sidecar(client, worker.pid)
        if len(self.workers) <= 1 and not any(w.sidecar for w in self.workers.values()):
            self._app_metrics = self._app_metrics or await self._has_our_metrics(client)

    def _find_workers(self) -> None:
        pids = serving_workers(self.target.port, self.target.pid)
        for pid in pids:
            self.workers.setdefault(pid, Worker(pid))
        for pid in [p for p in self.workers if p is not None and p not in pids]:
            if not psutil.pid_exists(pid):
                del self.workers[pid]  # a worker that exited (gunicorn recycles them)

    async def _find_sidecar(self, client: httpx.AsyncClient, pid: int) -> str | None:
        hinted = [(host, port) for p, host, port in self._hinted if p == pid]
        listening = [(found.host, found.port) for found in other_listeners(pid, self.target.port)]
        for host, port in dict.fromkeys(hinted + listening):
            if not self.target.permits(host):
                continue
            url = base_url(host, port)
            if await self._identify(client, url) == pid:
                return url
        return None

    async def _identify(self, client: httpx.AsyncClient, url: str) -> int | None:
        """The pid of the worker whose sidecar answers at ``url``; None if it is none."""
        try:
            identity = await self._get_json(
                client, f"{url}/identity", IDENTITY_TIMEOUT_S, MAX_SMALL_BODY_BYTES
            )
        except FetchError:
            return None
        if not isinstance(identity, dict) or identity.get("service") != SIDECAR_SERVICE:
            return None
        paths = identity.get("app_paths")
        heartbeat = paths.get("heartbeat") if isinstance(paths, dict) else None
        if isinstance(heartbeat, str) and _PATH.fullmatch(heartbeat):
            self.heartbeat.path = heartbeat
        return _pid(identity.get("pid"))

    async def _has_our_metrics(self, client: httpx.AsyncClient) -> bool:
        """Without a sidecar in sight, the app's own /metrics may still carry our gauges."""
        url = f"{self.target.origin}/metrics"
        try:
            status, body = await self._get(client, url, SIDECAR_TIMEOUT_S, MAX_BODY_BYTES)
        except FetchError:
            return False
        return status == 200 and b"loadtui_" in body

    # ---- looking -------------------------------------------------------------------------
    async def _sampler(self, client: httpx.AsyncClient) -> None:
        discovered = 0.0
        while True:
            started = time.monotonic()
            try:
                if started - discovered >= DISCOVER_EVERY_S:
                    discovered = started
                    await self._discover(client)
                await self._look(client)
            except Exception as exc:
                self._fail(exc)
            await asyncio.sleep(max(0.0, self.interval_s - (time.monotonic() - started)))

    async def _look(self, client: httpx.AsyncClient) -> None:
        workers = list(self.workers.values()) or [Worker(None)]
        mono = time.monotonic()  # a look is as old as its questions, not its slowest answer
        await asyncio.gather(*(self._read(client, worker) for worker in workers))
        self.on_look([self._sample(worker, mono) for worker in workers])
        self._report_signals()

    async def _read(self, client: httpx.AsyncClient, worker: Worker) -> None:
        source = worker.sidecar or (self.target.url if self._app_metrics else None)
        if source is None:
            return
        try:
            url = f"{source}/metrics"
            status, body = await self._get(client, url, SIDECAR_TIMEOUT_S, MAX_BODY_BYTES)
            text = body.decode("utf-8", "replace") if status == 200 else ""
            worker.metrics = parse_metrics(text)
            worker.sidecar_ok = bool(worker.metrics) if worker.sidecar else None
        except (FetchError, ValueError):  # ValueError: an exposition that does not parse
            worker.metrics, worker.sidecar_ok = {}, (False if worker.sidecar else None)
        if worker.sidecar and worker.sidecar_ok:
            if worker.news_task is None:
                worker.news_task = asyncio.create_task(self._hear_news(client, worker))
            await self._read_stalls(client, worker)
            await self._read_samples(client, worker)

    async def _read_stalls(self, client: httpx.AsyncClient, worker: Worker) -> None:
        now = time.monotonic()
        stalled = worker.stalled()
        if stalled and worker.ongoing is not None:
            # a stall still going on: its age is the tick age, fresh every look
            age = worker.metrics.get("loadtui_event_loop_tick_age_seconds", 0.0)
            worker.ongoing = replace(worker.ongoing, duration_s=max(worker.ongoing.duration_s, age))
            self.on_stalls([worker.ongoing])
        if worker.news_live and not worker.news_missed:
            return  # the long poll hears every stall
        if now - worker.stalls_read < STALLS_EVERY_S and not worker.news_missed:
            return
        if not (worker.metrics.get("loadtui_event_loop_stalls_total") or stalled):
            return
        worker.stalls_read, worker.news_missed = now, False
        try:
            answer = await self._get_json(
                client, f"{worker.sidecar}/stalls", SIDECAR_TIMEOUT_S, MAX_BODY_BYTES
            )
        except FetchError:
            return
        raw = answer.get("stalls") if isinstance(answer, dict) else None
        pid = _pid(answer.get("pid")) if isinstance(answer, dict) else None
        listed = raw[-256:] if isinstance(raw, list) else []
        stalls = [s for r in listed if (s := _stall(r, pid or worker.pid)) is not None]
        ongoing = [s for s in stalls if s.ongoing]
        worker.ongoing = ongoing[-1] if ongoing and stalled else None
        if stalls:
            self.on_stalls(stalls)

    async def _read_samples(self, client: httpx.AsyncClient, worker: Worker) -> None:
        """The stack sampler's finished seconds not handed on yet, asked for as those after the
        newest one heard (an older sidecar sends all it keeps); asking keeps it sampling."""
        now = time.monotonic()
        if self.on_threads is None or worker.samples_absent:
            return
        if now - worker.samples_read < SAMPLES_EVERY_S:
            return
        worker.samples_read = now
        try:
            after = f"?after={worker.samples_newest}" if worker.samples_newest else ""
            status, body = await self._get(
                client, f"{worker.sidecar}/samples{after}", SIDECAR_TIMEOUT_S, MAX_BODY_BYTES
            )
            answer = json.loads(body) if status == 200 else None
        except (FetchError, ValueError, RecursionError):
            return
        worker.samples_absent = status == 404
        looks = [
            look for look in parse_samples(answer, worker.pid) if look.epoch > worker.samples_newest
        ]
        if looks:
            worker.samples_newest = looks[-1].epoch
            self.on_threads(looks)

    async def _hear_news(self, client: httpx.AsyncClient, worker: Worker) -> None:
        """Holds one long poll on ``worker``'s sidecar while it is the probe's: each stall's
        start and end is handed on as the sidecar tells it. An older sidecar (404) is left to
        the /stalls reads; after a failure they stand in until a long poll holds again."""
        try:
            while self.workers.get(worker.pid) is worker and worker.sidecar:
                asked = time.monotonic()
                news = await self._wait_news(client, worker.sidecar, worker)
                worker.news_live = news is not None
                if news is not None:
                    self._heard(worker, news)
                pause = WAIT_GAP_S if news is not None else WAIT_RETRY_S
                await asyncio.sleep(max(0.0, asked + pause - time.monotonic()))
        except _NoLongPoll:
            worker.news_live = False
        except Exception as exc:
            worker.news_live = False
            self._fail(exc)

    async def _wait_news(
        self, client: httpx.AsyncClient, sidecar: str, worker: Worker
    ) -> News | None:
        """The sidecar's next news; None when it gave none that holds."""
        after = "" if worker.news_seq is None else f"?after={worker.news_seq}"
        try:
            status, body = await self._get(
                client, f"{sidecar}{WAIT_PATH}{after}", WAIT_DEADLINE_S, MAX_BODY_BYTES
            )
        except FetchError:
            return None
        if status == 404:
            raise _NoLongPoll
        return _news(body, worker.pid) if status == 200 else None

    def _heard(self, worker: Worker, news: News) -> None:
        worker.news_missed = worker.news_missed or not news.complete
        worker.news_seq = news.seq
        for stall in news.stalls:
            if stall.ongoing:
                worker.ongoing = stall
            elif worker.ongoing is not None and worker.ongoing.started_epoch == stall.started_epoch:
                worker.ongoing = None
        if news.stalls:
            self.on_stalls(news.stalls)

    def _sample(self, worker: Worker, mono: float) -> ServerSample:
        m = worker.metrics
        beat = self.heartbeat
        answered_here = beat.pid is None or beat.pid == worker.pid or len(self.workers) <= 1
        stalled = worker.stalled() or (
            not worker.sidecar_ok and beat.ever and beat.ok is False and answered_here
        )

        def integer(name: str) -> int | None:
            value = _number(m.get(name))
            return int(value) if value is not None else None

        def counts(name: str) -> dict[str, int] | None:
            value = m.get(name)
            return value if isinstance(value, dict) else None

        return ServerSample(
            mono=mono,
            pid=worker.pid,
            sidecar_ok=worker.sidecar_ok,
            threadpool_capacity=integer("loadtui_threadpool_capacity"),
            threadpool_busy=integer("loadtui_threadpool_busy"),
            threadpool_waiting=integer("loadtui_threadpool_waiting"),
            background_pending=counts("loadtui_background_tasks_pending"),
            background_running=counts("loadtui_background_tasks_running"),
            background_completed=counts("loadtui_background_tasks_completed_total"),
            requests_in_flight=integer("loadtui_requests_in_flight"),
            tick_age_s=_number(m.get("loadtui_event_loop_tick_age_seconds")),
            loop_lag_s=_number(m.get("loadtui_event_loop_lag_seconds")),
            heartbeat_ms=beat.ms if beat.ok and answered_here else None,
            heartbeat_ok=beat.ok if answered_here else None,
            stalled_now=stalled,
            stall=worker.ongoing if stalled else None,
            stall_pid=worker.pid if stalled else None,
            **worker.process_stats(),
        )

    def _report_signals(self) -> None:
        workers = self.workers.values()
        available = []
        if any(w.sidecar and w.metrics for w in workers):
            available.append(SIGNAL_SIDECAR)
        elif self._app_metrics:
            available.append(SIGNAL_APP_METRICS)
        # instrument(app) always adds /heartbeat: with its sidecar in sight, a heartbeat that
        # has not answered yet is blocked, not missing
        if self.heartbeat.ever or SIGNAL_SIDECAR in available:
            available.append(SIGNAL_HEARTBEAT)
        if any(w.process is not None for w in workers):
            available.append(SIGNAL_PROCESS)
        missing = [s for s in ALL_SIGNALS if s not in available]
        if SIGNAL_APP_METRICS in available:
            missing.remove(SIGNAL_SIDECAR)
        signals = (available, missing)
        if signals != self._signals:
            self._signals = signals
            self.on_signals(available, missing)
