"""Command-line entry points: parse, check the input (``loadtui.cli.options``), then do the
work. Bad input gets one clear line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from loadtui import exits
from loadtui.cli import options, resources
from loadtui.cli.parser import build_parser
from loadtui.exits import UsageError
from loadtui.safe_text import shown


# ---- commands: check the input (loadtui.cli.options), then do the work ---------------------
def _cmd_server(args: argparse.Namespace) -> int:
    from loadtui.server.serve import serve

    opts = options.server_options(args)
    try:
        return serve(opts)
    except OSError as exc:
        raise UsageError(f"cannot listen: {exc.strerror or exc}") from None
    except KeyboardInterrupt:
        return exits.OK


def _cmd_run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from loadtui.cli.headless import run_command
    from loadtui.fleet.engines import FleetError
    from loadtui.targets.spawn import SpawnError
    from loadtui.targets.target import TargetError

    spec = options.run_spec(args)
    gate = options.gate(args, [request.name for request in spec.scenario])
    claim = resources.claimed(args.json, args.force) if args.json is not None else None
    try:
        with resources.taken(args, "loadtui run", spec.engines, spec.plan.users) as taken:
            spec = replace(spec, engines=taken.engines, cluster=taken.cluster)
            live = taken.live
            code = run_command(spec, args.json, args.drain, gate, args.allow_no_success, live)
            return resources.linger(live, "loadtui run", code)
    except (SpawnError, TargetError, FleetError) as exc:
        print(f"loadtui run: {exc}", file=sys.stderr)
        return exits.FAILED
    finally:
        if claim is not None:
            claim.release()


def _cmd_matrix(args: argparse.Namespace) -> int:
    from loadtui.cli.headless import matrix_command
    from loadtui.fleet.engines import FleetError
    from loadtui.run import runfile
    from loadtui.targets.spawn import SpawnError

    routes, plan, target, shape, count = options.matrix_plan(args)
    gate = options.gate(args)
    options.writable(args.out / "probe.json", "run files in")
    try:
        with resources.taken(args, "loadtui matrix", count, min(args.users)) as taken:
            out_dir = runfile.new_run_dir(args.out)
            code = matrix_command(
                routes,
                args.users,
                plan,
                out_dir,
                args.threads,
                target,
                shape,
                gate,
                engines=taken.engines,
                cluster=taken.cluster,
                allow_no_success=args.allow_no_success,
                live=taken.live,
            )
            return resources.linger(taken.live, "loadtui matrix", code)
    except (SpawnError, FleetError) as exc:  # what was done is on disk already
        print(f"loadtui matrix: {exc}", file=sys.stderr)
        return exits.FAILED


def _cmd_capacity(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from loadtui.cli.capacity import CapacitySpec, capacity_command
    from loadtui.fleet.engines import FleetError
    from loadtui.run import runfile
    from loadtui.targets.spawn import SpawnError
    from loadtui.targets.target import TargetError

    run = options.capacity_run(args)
    options.no_linger_without_port(args)
    slos = options.slos(args, [request.name for request in run.scenario])
    bounds = options.capacity_bounds(args)
    options.writable(args.out / "probe.json", "run files in")
    claim = resources.claimed(args.json, args.force) if args.json is not None else None
    try:
        with resources.taken(args, "loadtui capacity", run.engines, run.plan.users) as taken:
            run = replace(run, engines=taken.engines, cluster=taken.cluster)
            out_dir = runfile.new_run_dir(args.out)
            spec = CapacitySpec(run, slos, bounds, out_dir, args.json, taken.live)
            return resources.linger(taken.live, "loadtui capacity", capacity_command(spec))
    except (SpawnError, TargetError, FleetError) as exc:
        print(f"loadtui capacity: {exc}", file=sys.stderr)
        return exits.FAILED
    finally:
        if claim is not None:
            claim.release()


def _cmd_tui(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from loadtui.app import LoadtuiApp, with_target_routes
    from loadtui.targets.openapi_source import OpenAPIError
    from loadtui.targets.target import TargetError, check_reachable

    config = options.tui_config(args)
    if config.target is not None:
        try:
            check_reachable(config.target)
        except TargetError as exc:
            print(f"loadtui: {exc}", file=sys.stderr)
            return exits.FAILED
        try:
            config = with_target_routes(config)
        except OpenAPIError as exc:  # the document --openapi names
            raise UsageError(f"--openapi {exc}") from None
    with resources.taken(args, "loadtui", config.engines, args.users) as taken:
        config = replace(config, engines=taken.engines, cluster=taken.cluster, live=taken.live)
        app = LoadtuiApp(config)
        code = app.run()
        # None: the app ended without choosing a code (a crash): never report success for that
        code = code if code is not None else (app.return_code or exits.FAILED)
        return resources.linger(taken.live, "loadtui", code)


def _cmd_report(args: argparse.Namespace) -> int:
    from loadtui.report.command import report_command
    from loadtui.run.runfile import RunFileError

    try:
        return report_command(args)
    except RunFileError as exc:
        raise UsageError(str(exc)) from None


def _cmd_compare(args: argparse.Namespace) -> int:
    from loadtui.report.compare_command import compare_command
    from loadtui.run.runfile import RunFileError

    try:
        return compare_command(args)
    except RunFileError as exc:
        raise UsageError(str(exc)) from None


def _cmd_routes(args: argparse.Namespace) -> int:
    from loadtui.cli.routes import print_operations, print_variants

    if args.target is not None:
        target = options.target(args, "/")
        return print_operations(target, options.openapi_given(args, target))
    options.openapi_given(args, None)
    return print_variants()


def _cmd_scenario(args: argparse.Namespace) -> int:
    from loadtui.cli.routes import print_scenario

    target = options.target(args, "/")
    return print_scenario(target, options.openapi_given(args, target))


COMMANDS: dict[str | None, Callable[[argparse.Namespace], int]] = {
    None: _cmd_tui,  # no command opens the TUI
    "run": _cmd_run,
    "matrix": _cmd_matrix,
    "capacity": _cmd_capacity,
    "report": _cmd_report,
    "compare": _cmd_compare,
    "server": _cmd_server,
    "routes": _cmd_routes,
    "scenario": _cmd_scenario,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = COMMANDS[args.command]
    name = f"loadtui {args.command}" if args.command else "loadtui"
    try:
        return handler(args)
    except UsageError as exc:
        print(f"{name}: error: {shown(str(exc))}", file=sys.stderr)
        return exits.USAGE
    except KeyboardInterrupt:  # commands that keep what they measured handle it themselves
        return exits.INTERRUPTED
    except BrokenPipeError:  # e.g. `loadtui routes | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return exits.FAILED
