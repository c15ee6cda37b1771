"""Load one route of an app named by an import string, and judge the run: what the pytest
plugin (:mod:`loadtui.testing.pytest_plugin`) does, without pytest.

The app is served by :mod:`loadtui.targets.serve_app` in a process of its own, on a free
loopback port, and loaded with loadtui's own runner and engine; the run file is written, then
the server is stopped. Every wait is bounded: the server's start (``START_TIMEOUT_S``), the load
(its duration, then the runner's bounded stop), the server's stop.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from loadtui.engine.request_spec import RequestSpec
from loadtui.engine.schedule import Stage
from loadtui.formats import plural
from loadtui.probing.samples import SIGNAL_SIDECAR
from loadtui.run.gate import (
    GateSpec,
    describe,
    judge,
    parse_fail_on,
    parse_threshold,
)
from loadtui.run.outcome import no_success
from loadtui.run.rundoc import LatencyMs, RunDocument, Summary, Verdict
from loadtui.safe_text import shown
from loadtui.targets.serve_app import AppImport
from loadtui.targets.spawn import START_TIMEOUT_S, SpawnedServer, SpawnError

# What a request may carry besides its route: the command line's request options, by the
# names a test passes them to loadtui_run.
REQUEST_OPTIONS = frozenset({"method", "headers", "json", "data", "expect"})
BLOCKED = "event_loop_blocked"
DEFAULT_DURATION_S = 5.0
SATURATED = "threadpool_saturated"


class LoadCheckError(Exception):
    """The load could not be run: the app did not import or start, or the route is missing."""


@dataclass(frozen=True)
class LoadResult:
    """One run of one route: its summary, its verdicts and the run file it was written to."""

    app: str
    route: str
    document: RunDocument
    path: Path
    allow_no_success: bool = False  # a run in which no request succeeded passes the assertions

    def __repr__(self) -> str:  # what pytest shows beside a failed assertion
        summary = self.summary
        return shown(
            f"<LoadResult GET {self.route} on {self.app}: {summary.requests} requests, "
            f"{summary.errors} errors, run file {self.path}>"
        )

    @property
    def summary(self) -> Summary:
        return self.document.summary

    @property
    def requests(self) -> int:
        return self.summary.requests

    @property
    def errors(self) -> int:
        return self.summary.errors

    @property
    def rps(self) -> float:
        return self.summary.rps

    @property
    def latency_ms(self) -> LatencyMs:
        """mean, p50, p90, p99, p999, max (and min), in milliseconds."""
        return self.summary.latency_ms

    @property
    def verdicts(self) -> list[Verdict]:
        return self.document.verdicts

    def _where(self) -> str:
        return shown(f"GET {self.route} on {self.app} (run file {self.path})")

    def _succeeded(self) -> None:
        """AssertionError saying why, when no request succeeded: such a run measured only
        failures, so nothing it says of the route can pass (unless ``allow_no_success``)."""
        __tracebackhide__ = True
        why = None if self.allow_no_success else no_success(self.summary)
        if why:
            raise AssertionError(shown(f"{why}, loading {self._where()}"))

    def assert_no_blocking(self) -> None:
        """AssertionError naming the functions that blocked the event loop, with their file and
        line, how many stalls and the longest; also when the run could not tell (no sidecar),
        and when no request succeeded."""
        __tracebackhide__ = True
        self._succeeded()
        blocked = [v for v in self.verdicts if v.code == BLOCKED]
        if blocked:
            raise AssertionError(
                f"the event loop was blocked while loading {self._where()}: "
                + "; ".join(blocking(v) for v in blocked)
            )
        if SIGNAL_SIDECAR not in self.document.server.signals.available:
            raise AssertionError(
                f"cannot tell whether {self._where()} blocks the event loop: the app's metrics "
                "sidecar did not answer (does it call instrument(app, metrics_port=None)?)"
            )

    def assert_pool_not_saturated(self) -> None:
        """AssertionError when the thread pool was full, naming who held its threads (function,
        file:line, share, on CPU or waiting) and the cure that fits; also when the run could
        not tell (no sidecar)."""
        __tracebackhide__ = True
        full = [v for v in self.verdicts if v.code == SATURATED]
        if full:
            raise AssertionError(
                f"the thread pool was full while loading {self._where()}: " + shown(full[0].message)
            )
        if SIGNAL_SIDECAR not in self.document.server.signals.available:
            raise AssertionError(
                f"cannot tell whether {self._where()} fills the thread pool: the app's metrics "
                "sidecar did not answer (does it call instrument(app, metrics_port=None)?)"
            )

    def assert_thresholds(self, *thresholds: str) -> None:
        """AssertionError listing every breached threshold (``'p99<300ms'``, ``'errors==0'``:
        the CLI's --threshold); also when no request succeeded."""
        __tracebackhide__ = True
        self._succeeded()
        spec = GateSpec(thresholds=tuple(parse_threshold(text) for text in thresholds))
        gate = judge(self.document, spec)
        if not gate.passed:
            lines = [describe(result) for result in gate.thresholds if not result.passed]
            raise AssertionError(f"thresholds breached by {self._where()}: " + "; ".join(lines))

    def assert_no_verdicts(self, *fail_on: str) -> None:
        """AssertionError when a verdict has one of these codes or severities (--fail-on's),
        and when no request succeeded."""
        __tracebackhide__ = True
        self._succeeded()
        gate = judge(self.document, GateSpec(fail_on=parse_fail_on(fail_on)))
        found = [v for v in self.verdicts if v.code in gate.matched]
        if found:
            raise AssertionError(
                f"forbidden verdicts while loading {self._where()}: "
                + "; ".join(
                    blocking(v) if v.code == BLOCKED else shown(f"{v.code}: {v.message}")
                    for v in found
                )
            )


def blocking(verdict: Verdict) -> str:
    """An event_loop_blocked verdict in one line: each culprit at its file:line (and the call it
    was in), the stalls and the longest."""
    evidence = verdict.evidence
    culprits = [c for c in _list(evidence.get("culprits")) if isinstance(c, Mapping)]
    if not culprits:  # no sidecar: the culprit cannot be named
        return shown(verdict.message)
    named = [
        f"{c.get('culprit')} at {c.get('location') or 'an unknown location'}"
        f"{f' → {leaf}' if (leaf := c.get('leaf')) else ''}: "
        f"{_stalls(c.get('stalls'), c.get('longest_s'))}"
        for c in culprits
    ]
    if len(named) > 1:
        named.append(f"in all {_stalls(evidence.get('stalls'), evidence.get('longest_s'))}")
    return shown("; ".join(named))


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _stalls(count: object, longest: object) -> str:
    times = plural(count, "stall") if isinstance(count, int) else f"{count} stalls"
    seconds = f"{longest:.2f}" if isinstance(longest, int | float) else "?"
    return f"{times}, the longest {seconds} s"


def _check_arguments(
    route: object,
    users: object,
    seconds: Mapping[str, object],
    think: object,
    options: Mapping[str, object],
) -> None:
    """TypeError or ValueError, naming the argument, before anything starts."""
    unknown = sorted(set(options) - REQUEST_OPTIONS)
    if unknown:
        takes = ", ".join(sorted(REQUEST_OPTIONS)) or "none yet"
        raise TypeError(f"loadtui_run: unknown request option {unknown[0]!r} (it takes: {takes})")
    if not isinstance(route, str) or not route.startswith("/"):
        raise ValueError(f"loadtui_run: route must be a path starting with /, not {route!r}")
    if not isinstance(users, int) or isinstance(users, bool) or users < 1:
        raise ValueError(f"loadtui_run: users must be a whole number from 1, not {users!r}")
    for name, value in seconds.items():
        if value is None and name == "duration":
            continue  # the default, or the rate's stages
        if not _number(value) or not 0 < value < math.inf:  # type: ignore[operator]
            raise ValueError(
                f"loadtui_run: {name} must be a number of seconds above 0, not {value!r}"
            )
    if not (
        isinstance(think, tuple)
        and len(think) == 2
        and all(_number(t) and 0 <= t < math.inf for t in think)
    ):
        raise ValueError(
            f"loadtui_run: think must be (least, most) seconds, 0 or more, not {think!r}"
        )


def request_shape(options: Mapping[str, object]) -> RequestSpec | None:
    """The request options as the command line's (-X, -H, -d, --expect); ValueError naming
    what is wrong. None for a plain GET."""
    from loadtui.engine.request_spec import Shape, SpecError, shaped

    if not options:
        return None
    if "json" in options and "data" in options:
        raise ValueError("loadtui_run: give json or data, not both")
    headers = options.get("headers", {})
    if not isinstance(headers, Mapping):
        raise ValueError("loadtui_run: headers must be a mapping of name to value")
    data = options.get("data")
    if "json" in options:
        data = json.dumps(options["json"])
    expect = options.get("expect")
    try:
        return shaped(
            Shape(
                method=str(options["method"]) if "method" in options else None,
                headers=tuple(f"{name}: {value}" for name, value in headers.items()),
                data=data.decode() if isinstance(data, bytes) else data,
                expect=",".join(map(str, expect)) if expect else None,
            )
        )
    except SpecError as exc:
        raise ValueError(f"loadtui_run: {exc}") from None


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def open_loop(
    rate: object, duration: float | None
) -> tuple[float | None, tuple[Stage, ...], float]:
    """``rate=``: None (closed loop), requests per second held for the run, or stages as the
    command line's --rate takes them ("10:200@30s", "10@5s,50@20s"); as (the highest rate, the
    stages, the run's duration). ValueError naming what is wrong."""
    from loadtui.engine import schedule
    from loadtui.engine.plan import MAX_RATE, check_stages

    if rate is None:
        return None, (), DEFAULT_DURATION_S if duration is None else duration
    if isinstance(rate, str) and schedule.is_stages(rate):
        try:
            stages = schedule.parse(rate)
            check_stages(stages)
        except schedule.ScheduleError as exc:
            raise ValueError(f"loadtui_run: rate {exc}") from None
        try:
            total = schedule.lasting(stages, duration, "duration")
        except schedule.ScheduleError as exc:
            raise ValueError(f"loadtui_run: {exc}") from None
        return schedule.highest(stages), stages, total
    if not _number(rate) or not 0 < rate <= MAX_RATE:  # type: ignore[operator]
        raise ValueError(
            f"loadtui_run: rate must be requests per second above 0 and at most {MAX_RATE:,g}, "
            f"or stages such as '10:200@30s', not {rate!r}"
        )
    return float(rate), (), DEFAULT_DURATION_S if duration is None else duration  # type: ignore[arg-type]


def run_app(
    app: str,
    route: str,
    *,
    run_file: Path,
    users: int = 10,
    duration: float | None = None,
    rate: float | str | None = None,
    think: tuple[float, float] = (0.1, 0.5),
    timeout: float = 10.0,
    start_timeout: float = START_TIMEOUT_S,
    allow_no_success: bool = False,
    **request_options: object,
) -> LoadResult:
    """Serve ``app`` (an import string), load ``route`` with ``users`` for ``duration`` seconds
    (5 by default; ``think``: each user's pause, s; ``timeout``: a request's, s;
    ``start_timeout``: the app's to start listening, s), write the run file; LoadCheckError when
    the app or the route cannot be loaded. ``rate``: an open loop instead, at so many requests a
    second or in stages ("10:200@30s": the run lasts them), ``users`` connections at most.
    ``allow_no_success``: the assertions pass a run in which no request succeeded (by default
    they fail on it, saying why)."""
    from loadtui.engine.plan import LoadPlan, PlanError
    from loadtui.run.runner import run_to_end
    from loadtui.run.spec import RunSpec
    from loadtui.targets.target import TargetError

    seconds = {"duration": duration, "timeout": timeout, "start_timeout": start_timeout}
    _check_arguments(route, users, seconds, think, request_options)
    held, stages, duration = open_loop(rate, duration)
    if not isinstance(allow_no_success, bool):
        raise ValueError(
            f"loadtui_run: allow_no_success must be True or False, not {allow_no_success!r}"
        )
    shape = request_shape(request_options)
    try:
        plan = LoadPlan(
            mode="closed" if held is None else "open",
            users=users,
            spawn_rate=float(users),
            duration_s=duration,
            think_s=think,
            rate=held,
            timeout_s=timeout,
            stages=stages,
        )
    except PlanError as exc:
        raise ValueError(f"loadtui_run: think must be (least, most) seconds: {exc}") from None
    where = AppImport(app, os.getcwd(), tuple(sys.path))
    try:
        server = SpawnedServer.start(app=where, timeout=start_timeout)
    except SpawnError as exc:
        raise LoadCheckError(str(exc)) from None
    try:
        target = server.target(route)
        spec = RunSpec(route=target.route, plan=plan, target=target, shape=shape)
        result = run_to_end(spec, json_path=run_file)
    except (SpawnError, TargetError) as exc:
        raise LoadCheckError(str(exc)) from None
    finally:
        server.stop()
    if result.interrupted:
        raise KeyboardInterrupt
    loaded = LoadResult(app, route, result.document, run_file, allow_no_success)
    return _checked(loaded, result.write_error)


def _checked(result: LoadResult, write_error: str | None) -> LoadResult:
    """The result, or LoadCheckError when the run says the load did not reach the route."""
    doc = result.document
    if doc.failure:
        raise LoadCheckError(shown(f"the run failed: {doc.failure}"))
    if write_error:
        raise LoadCheckError(write_error)
    summary = doc.summary
    if summary.requests and summary.errors_by_kind.get("http_404") == summary.requests:
        raise LoadCheckError(
            shown(
                f"GET {result.route} answered 404 Not Found to all {summary.requests} requests: "
                f"{result.app} has no such route"
            )
        )
    unreachable = [v for v in doc.verdicts if v.code == "server_unreachable"]
    if unreachable:
        raise LoadCheckError(shown(f"{result.app} stopped answering: {unreachable[0].message}"))
    return result
