"""From parsed arguments to what a command needs, checking everything a user can get wrong.

Nothing here sends a packet, starts a process or writes a file (except ``writable``, which
proves an output location before a run by writing and removing a file there): bad input is found
before any work starts. What a command then takes for itself (its run file, a Ray cluster) is
``loadtui.cli.resources``'s.
"""

from __future__ import annotations

import argparse
from collections.abc import Collection
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from loadtui.exits import UsageError

if TYPE_CHECKING:
    from loadtui.app import AppConfig
    from loadtui.capacity.search import Bounds
    from loadtui.engine.plan import LoadPlan
    from loadtui.engine.request_spec import RequestSpec
    from loadtui.engine.schedule import Stage
    from loadtui.run.gate import GateSpec
    from loadtui.run.rundoc import Threshold
    from loadtui.run.spec import RunSpec
    from loadtui.server.serve import ServeOptions
    from loadtui.targets.target import Target


def plan(
    args: argparse.Namespace,
    users: int,
    spawn_rate: float,
    rate: float | tuple[Stage, ...] | None = None,
) -> LoadPlan:
    """The load plan; ``rate``: --rate's (by default), or a scenario's ``[load]``. With stages
    the run lasts their total: a --duration that says otherwise is refused."""
    from loadtui.engine import schedule
    from loadtui.engine.plan import LoadPlan, PlanError

    given = getattr(args, "rate", None) if rate is None else rate
    stages = given if isinstance(given, tuple) else ()
    held = given if isinstance(given, float) else None
    duration = getattr(args, "duration", None)
    if stages:
        try:
            duration = schedule.lasting(stages, duration, "--duration")
        except schedule.ScheduleError as exc:
            raise UsageError(str(exc)) from None
        held = schedule.highest(stages)
    elif duration is None:
        duration = getattr(args, "default_duration", None)
    try:
        return LoadPlan(
            mode="open" if held else "closed",
            users=users,
            spawn_rate=spawn_rate,
            duration_s=duration,
            think_s=(args.think_min, args.think_max),
            rate=held,
            timeout_s=args.timeout,
            stages=stages,
        )
    except PlanError as exc:
        raise UsageError(f"--think-min/--think-max: {exc}") from None


def scenario_rate(args: argparse.Namespace) -> float | tuple[Stage, ...] | None:
    """--rate, else the scenario's ``[load]`` rate (checked against --rate's bounds), else
    None."""
    from loadtui.cli import bounds
    from loadtui.engine.plan import check_stages
    from loadtui.engine.request_spec import SpecError
    from loadtui.engine.schedule import ScheduleError
    from loadtui.targets import scenario_load

    if args.rate is not None or args.scenario is None:
        return args.rate
    try:
        found = scenario_load.rate(args.scenario)
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    try:
        if isinstance(found, tuple):
            check_stages(found)
        elif found is not None:
            bounds.rate(repr(found))
    except (ScheduleError, argparse.ArgumentTypeError) as exc:
        raise UsageError(f"{args.scenario}: [load] rate: {exc}") from None
    return found


def writable(path: Path, what: str) -> None:
    from loadtui.run.runfile import check_writable

    try:
        check_writable(path)
    except OSError as exc:
        raise UsageError(f"cannot write {what} {path}: {exc.strerror or exc}") from None


def demo_route(route: str) -> str:
    """The variant key of a demo route, or UsageError."""
    from loadtui.server.variants import find_variant

    variant = find_variant(route)
    if variant is None:
        raise UsageError(
            f"unknown route {route!r}: `loadtui routes` lists the demo's routes "
            "(use --target to load your own app)"
        )
    return variant.key


def target(args: argparse.Namespace, route: str) -> Target:
    """The --target (with its --metrics sidecar and TLS trust, if given), or UsageError."""
    from loadtui.targets.target import TargetError, parse_metrics_url, parse_target

    try:
        found = parse_target(args.target, route, allow_remote=args.allow_remote)
    except TargetError as exc:
        raise UsageError(f"--target {exc}") from None
    try:
        if getattr(args, "metrics", None):
            found = replace(found, metrics_url=parse_metrics_url(args.metrics, found))
    except TargetError as exc:
        raise UsageError(str(exc)) from None
    return _with_trust(args, found)


def _with_trust(args: argparse.Namespace, found: Target) -> Target:
    import ssl

    cafile = getattr(args, "cacert", None)
    insecure = getattr(args, "insecure", False)
    if (cafile or insecure) and not found.tls:
        raise UsageError("-k and --cacert apply to an https:// --target")
    if cafile is not None:
        try:
            ssl.create_default_context(cafile=str(cafile))
        except (OSError, ssl.SSLError, ValueError):
            raise UsageError(f"--cacert {cafile}: not a readable PEM certificate") from None
    return replace(found, insecure=insecure, cafile=str(cafile) if cafile else None)


def openapi_given(args: argparse.Namespace, where: Target | None) -> str | None:
    """--openapi URL_OR_PATH, checked (nothing fetched): the URL or file to read the target's
    operations from, or None."""
    text = getattr(args, "openapi", None)
    if text is None:
        return None
    if where is None:
        raise UsageError("--openapi names the document of a --target: give --target too")
    from loadtui.targets.openapi_source import OpenAPIError, given  # httpx: only when asked

    try:
        return given(text, where)
    except OpenAPIError as exc:
        raise UsageError(str(exc)) from None


def no_metrics_without_target(args: argparse.Namespace) -> None:
    if getattr(args, "metrics", None) and args.target is None:
        raise UsageError("--metrics names the sidecar of a --target: give --target too")


def no_linger_without_port(args: argparse.Namespace) -> None:
    if args.prometheus_linger is not None and args.prometheus_port is None:
        raise UsageError("--prometheus-linger keeps --prometheus-port's figures: give it too")


def request_shape(args: argparse.Namespace) -> RequestSpec | None:
    """The request options (-X, -H, -d, --data-urlencode, -F, --expect, --data-file), checked;
    None if none given."""
    from loadtui.engine.request_spec import Shape, SpecError, shaped

    given = args.method or args.header or _body_given(args) or args.expect
    if not (given or args.data_file):
        return None
    if args.scenario is not None:
        raise UsageError(
            "--scenario holds its own requests: leave out -X, -H, -d, --data-urlencode, -F, "
            "--expect, --data-file"
        )
    shape = Shape(
        method=args.method,
        headers=tuple(args.header),
        data=args.data,
        data_urlencode=tuple(args.data_urlencode),
        form=tuple(args.form),
        expect=args.expect,
        data_file=args.data_file,
        data_order=args.data_order,
    )
    try:
        return shaped(shape)
    except SpecError as exc:
        raise UsageError(str(exc)) from None


def _body_given(args: argparse.Namespace) -> bool:
    return args.data is not None or bool(args.data_urlencode) or bool(args.form)


def scenario_requests(args: argparse.Namespace) -> tuple[RequestSpec, ...]:
    from loadtui.engine.request_spec import SpecError
    from loadtui.targets import scenario

    if args.scenario is None:
        return ()
    try:
        return tuple(scenario.load(args.scenario))
    except SpecError as exc:
        raise UsageError(str(exc)) from None


def checked_run(spec: RunSpec, on_cluster: bool = False) -> RunSpec:
    """``spec`` once its requests can be built and its users have descriptors enough (here,
    unless its engines run on a cluster's nodes, which check their own)."""
    from loadtui.engine import fd_limits
    from loadtui.engine.request_spec import SpecError

    try:
        spec.requests()
        if not on_cluster:
            fd_limits.ensure(spec.plan.users, spec.engines)
    except (SpecError, fd_limits.HeadroomError) as exc:
        raise UsageError(str(exc)) from None
    return spec


# ---- engines: how many, and where ------------------------------------------------------------
def cores() -> int:
    """The cores this process may run on."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def engines(args: argparse.Namespace, least_users: int, spawned: bool) -> int:
    """--engines, checked: not more than the cores (on this machine), each engine a user at
    least; ``auto``: one a core left over, counting a spawned server's core (on a cluster one a
    CPU, known once joined: 1 until then). --ray's extra installed."""
    asked = getattr(args, "engines", 1)
    ray = getattr(args, "ray", None)
    if ray is not None:
        from loadtui.fleet.ray_engines import RayUnavailable, check_installed

        try:
            check_installed()
        except RayUnavailable as exc:
            raise UsageError(str(exc)) from None
    here = cores()
    if asked == "auto":
        count = 1 if ray == "auto" else max(1, here - (1 if spawned else 0))
    else:
        count = asked
        if ray != "auto" and count > here:
            raise UsageError(
                f"--engines {count}: this machine has {here} cores, and an engine needs one "
                "(--ray auto spreads engines over a cluster's machines)"
            )
    return shared_by(count, least_users)


def shared_by(count: int, least_users: int) -> int:
    if least_users < count:
        raise UsageError(
            f"--engines {count} share --users {least_users}: give each engine a user (open "
            "loop: a connection) at least"
        )
    return count


def run_spec(args: argparse.Namespace) -> RunSpec:
    from loadtui.run.spec import RunSpec

    no_metrics_without_target(args)
    no_linger_without_port(args)
    shape, mix = request_shape(args), scenario_requests(args)
    load = plan(args, args.users, args.spawn_rate, scenario_rate(args))
    if mix and args.route is not None:
        raise UsageError("give a ROUTE or --scenario FILE, not both")
    if not mix and args.route is None:
        raise UsageError("give a ROUTE (a variant key or a path), or --scenario FILE")
    route = args.route if not mix else args.scenario.name
    where = None
    if args.target is not None:
        if args.threads is not None:
            raise UsageError("--threads applies to a spawned demo server, not to --target")
        where = target(args, route if not mix else "/")
    elif not mix:
        demo_route(route)
    spec = RunSpec(
        route=route,
        plan=load,
        target=where,
        threads=args.threads,
        shape=shape,
        scenario=mix,
        engines=engines(args, load.users, spawned=where is None),
        cookies=not args.no_cookies,
    )
    return checked_run(spec, on_cluster=args.ray is not None)


def matrix_plan(
    args: argparse.Namespace,
) -> tuple[list[str], LoadPlan, Target | None, RequestSpec | None, int]:
    """The routes, the base plan, the target (None: a fresh demo server for every run), how
    each route is asked and by how many engines."""
    from loadtui.run.spec import RunSpec
    from loadtui.server.variants import SEED_KEYS

    no_metrics_without_target(args)
    no_linger_without_port(args)
    if args.scenario is not None:
        raise UsageError("matrix takes --routes, not --scenario (run takes a scenario)")
    shape = request_shape(args)
    if args.target is not None:
        if args.routes is None:
            raise UsageError("give --routes (paths on the target) with --target")
        if args.threads is not None:
            raise UsageError("--threads applies to a spawned demo server, not to --target")
        routes, where = args.routes, target(args, "/")
    else:
        routes, where = args.routes or list(SEED_KEYS), None
        for route in routes:
            demo_route(route)
    base = plan(args, args.users[0], 20.0)
    count = engines(args, min(args.users), spawned=where is None)
    for route in routes:
        most = replace(base, users=max(args.users))
        checked_run(
            RunSpec(route=route, plan=most, target=where, shape=shape, engines=count),
            on_cluster=args.ray is not None,
        )
    return routes, base, where, shape, count


def gate(args: argparse.Namespace, names: Collection[str] = ()) -> GateSpec:
    """--threshold and --fail-on; ``names`` are the run's request names (none without a
    scenario), the only ones a threshold may name (``orders.p99<500ms``)."""
    from loadtui.run.gate import GateSpec, ThresholdError, parse_fail_on, parse_threshold

    try:
        thresholds = tuple(parse_threshold(text, names) for text in args.threshold)
    except ThresholdError as exc:
        raise UsageError(f"--threshold {exc}") from None
    try:
        fail_on = parse_fail_on(args.fail_on)
    except ThresholdError as exc:
        raise UsageError(f"--fail-on: {exc}") from None
    return GateSpec(thresholds, fail_on)


def capacity_run(args: argparse.Namespace) -> RunSpec:
    """The run each capacity step is (its rate and length set per step), checked as `run`
    checks its run: the route or scenario, the request, the target, users and engines."""
    as_run = argparse.Namespace(**vars(args))
    as_run.rate, as_run.duration = args.min_rate, args.step
    as_run.spawn_rate, as_run.think_min, as_run.think_max = 1.0, 0.0, 0.0
    return run_spec(as_run)


def capacity_bounds(args: argparse.Namespace) -> Bounds:
    from loadtui.capacity.search import Bounds

    if args.min_rate > args.max_rate:
        raise UsageError(
            f"--min-rate {args.min_rate:g} is above --max-rate {args.max_rate:g}: the search "
            "has nowhere to go"
        )
    return Bounds(
        args.min_rate, args.max_rate, args.ramp_step, args.step, resolution=args.resolution / 100
    )


def slos(args: argparse.Namespace, names: Collection[str] = ()) -> tuple[Threshold, ...]:
    """--slo, each parsed; ``names`` are the scenario's request names (``orders.p99<1s``)."""
    from loadtui.capacity.slo import parse_slo
    from loadtui.run.gate import ThresholdError

    try:
        return tuple(parse_slo(text, names) for text in args.slo)
    except ThresholdError as exc:
        raise UsageError(f"--slo {exc}") from None


def tui_config(args: argparse.Namespace) -> AppConfig:
    """The TUI's panes, checked as `run` checks its run. With --target and no --route the
    routes come from the target's OpenAPI document once it is reached (``openapi``)."""
    from loadtui.app import MAX_PANES, AppConfig
    from loadtui.run.spec import RunSpec
    from loadtui.tui import route_choices

    load = plan(args, args.users, args.spawn_rate)
    no_metrics_without_target(args)
    no_linger_without_port(args)
    shape, mix = request_shape(args), scenario_requests(args)
    routes = args.route or []
    if mix and routes:
        raise UsageError("give --route or --scenario FILE, not both")
    if len(routes) > MAX_PANES:
        raise UsageError(f"{MAX_PANES} panes at most: give --route up to {MAX_PANES} times")
    where = target(args, "/") if args.target is not None else None
    if where is not None and args.threads is not None:
        raise UsageError("--threads applies to a spawned demo server, not to --target")
    given = openapi_given(args, where)
    if given is not None and (mix or routes):
        raise UsageError(
            "--openapi gives the panes the target's operations: leave out --route and --scenario"
        )
    config = replace(
        AppConfig.default(load), target=where, shape=shape, cookies=not args.no_cookies
    )
    if mix:
        config = replace(
            config, routes=route_choices.scenario(args.scenario, mix), panes=[(0, args.users)]
        )
    elif routes and where is not None:
        panes = [(i, args.users) for i in range(len(routes))]
        config = replace(config, routes=route_choices.given(routes, shape), panes=panes)
    elif routes:
        keys = [variant.route for variant in config.routes]
        panes = [(keys.index(demo_route(r)), args.users) for r in routes]
        config = replace(config, routes=route_choices.demo(shape), panes=panes)
    elif where is not None:
        _whole_requests_need_a_route(args)
        config = replace(config, routes=route_choices.demo(shape), openapi=True, openapi_from=given)
    else:
        config = replace(config, routes=route_choices.demo(shape))
    count = engines(args, args.users, spawned=where is None)
    for index in sorted({index for index, _ in config.panes}):
        choice = config.routes[index]
        spec = RunSpec(
            route=choice.route, plan=load, target=where, shape=choice.shape,
            scenario=choice.scenario, engines=count,
        )  # fmt: skip
        checked_run(spec, on_cluster=args.ray is not None)
    return replace(
        config,
        threads=args.threads,
        runs_dir=args.runs_dir,
        hard_exit=True,
        engines=count,
    )


def _whole_requests_need_a_route(args: argparse.Namespace) -> None:
    """-X, a body and --data-file make one request of one route: without --route, the panes
    walk the target's operations, each with its own method and example body."""
    if args.method or _body_given(args) or args.data_file:
        raise UsageError(
            "-X, -d, --data-urlencode, -F and --data-file ask one route: give --route PATH with "
            "them (without --route the panes step through the target's OpenAPI operations, "
            "each with its own method and example body)"
        )


def server_options(args: argparse.Namespace) -> ServeOptions:
    from loadtui.server.serve import ServeOptions

    metrics_port = args.metrics_port
    if metrics_port is None:
        metrics_port = args.port + 1 if args.port else 0
    if metrics_port > 65535:
        raise UsageError("--port 65535 leaves no room for the sidecar: give --metrics-port")
    wildcards = ("0.0.0.0", "::", "")
    same_host = args.metrics_host == args.host or {args.host, args.metrics_host} & set(wildcards)
    if metrics_port and metrics_port == args.port and same_host:
        raise UsageError(
            f"--metrics-port {metrics_port} is the app's own port: the sidecar needs its own"
        )
    return ServeOptions(
        host=args.host,
        port=args.port,
        metrics_host=args.metrics_host,
        metrics_port=metrics_port,
        threads=args.threads,
        announce_json=args.announce_json,
        exit_with_parent=args.exit_with_parent,
    )
