"""Command-line entry points. Bad input gets one clear line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from loadtui import exits
from loadtui.cli import bounds, options
from loadtui.cli.options import UsageError
from loadtui.safe_text import shown


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(exits.USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ---- value checkers (argparse `type=`) ---------------------------------------------------
def _number(text: str, kind: Callable[[str], float], what: str) -> float:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def whole(low: int, high: int) -> Callable[[str], int]:
    """A whole number from ``low`` to ``high``."""

    def check(text: str) -> int:
        value = int(_number(text, int, "a whole number"))
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} must be from {low:,} to {high:,}")
        return value

    return check


def number(low: float, high: float, *, above: bool = False) -> Callable[[str], float]:
    """A finite number from ``low`` (or above it) to ``high``."""

    def check(text: str) -> float:
        value = _number(text, float, "a number")
        if not (low < value if above else low <= value) or not value <= high:
            start = f"above {low:g}" if above else f"from {low:g}"
            raise argparse.ArgumentTypeError(f"{text!r} must be a number {start} to {high:g}")
        return value

    return check


port_number = whole(0, 65535)
users = whole(1, bounds.MAX_USERS)
threads = whole(1, bounds.MAX_THREADS)
duration = number(bounds.MIN_DURATION_S, bounds.MAX_DURATION_S)
spawn_rate = number(0, bounds.MAX_SPAWN_RATE, above=True)
rate = number(0, bounds.MAX_RATE, above=True)
seconds = number(0, bounds.MAX_SECONDS)
timeout = number(bounds.MIN_TIMEOUT_S, bounds.MAX_SECONDS)
engine_number = whole(1, bounds.MAX_ENGINES)


def engine_count(text: str) -> int | str:
    """--engines: a whole number, or ``auto``."""
    return "auto" if text.strip().lower() == "auto" else engine_number(text)


# ---- the parser ----------------------------------------------------------------------------
def _add_server(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("server", help="serve the demo app (uvicorn, one worker)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=port_number, default=8000, help="app port (default 8000)")
    p.add_argument("--metrics-host", default="127.0.0.1", help="sidecar bind address")
    p.add_argument(
        "--metrics-port",
        type=port_number,
        default=None,
        help="metrics sidecar port (default: app port + 1; 0 picks a free port)",
    )
    p.add_argument("--threads", type=threads, default=None, help="thread pool size (default 40)")
    p.add_argument("--announce-json", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--exit-with-parent", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(handler=_cmd_server)


def user_list(text: str) -> list[int]:
    return [users(part.strip()) for part in text.split(",") if part.strip()] or [users("")]


def route_list(text: str) -> list[str]:
    routes = [part.strip() for part in text.split(",") if part.strip()]
    if not routes:
        raise argparse.ArgumentTypeError("give at least one route")
    return routes


def _add_load_options(p: argparse.ArgumentParser, default_s: float = 30.0) -> None:
    p.add_argument(
        "--duration",
        type=duration,
        default=default_s,
        help=f"seconds, {bounds.MIN_DURATION_S:g} (one interval) to a week (default %(default)s)",
    )
    p.add_argument(
        "--think-min",
        type=seconds,
        default=0.1,
        help=f"least think time per user, s, up to {bounds.MAX_SECONDS:g} (default %(default)s)",
    )
    p.add_argument(
        "--think-max",
        type=seconds,
        default=0.5,
        help=f"most think time per user, s, up to {bounds.MAX_SECONDS:g} (default %(default)s)",
    )
    p.add_argument(
        "--timeout",
        type=timeout,
        default=60.0,
        help=f"request timeout, s, {bounds.MIN_TIMEOUT_S:g} to {bounds.MAX_SECONDS:g} "
        "(default %(default)s)",
    )
    p.add_argument(
        "--threads",
        type=threads,
        default=None,
        help=f"thread pool size of the spawned demo server, up to {bounds.MAX_THREADS:,} "
        "(default 40)",
    )


def _add_metrics(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--metrics",
        metavar="URL",
        help="the target's metrics sidecar, http://HOST:PORT (default: found by itself: the "
        "sockets the target's processes listen on)",
    )


def _add_engine_options(p: argparse.ArgumentParser) -> None:
    """How many engines share the load, and where they run (run, matrix and the TUI)."""
    g = p.add_argument_group("engines", "several engine processes, here or on a Ray cluster")
    g.add_argument(
        "--engines",
        type=engine_count,
        default=1,
        metavar="N|auto",
        help="engine processes sharing the load, one a core (default 1; auto: one a core left "
        "over, counting a spawned server's; with --ray auto, one a CPU of the cluster)",
    )
    g.add_argument(
        "--ray",
        choices=("auto", "local"),
        default=None,
        help="run the engines as Ray actors spread over a cluster's nodes: auto joins the "
        "running cluster (RAY_ADDRESS, else this machine's), local starts one here; needs "
        "pip install 'loadtui[ray]'",
    )


def _add_request_options(p: argparse.ArgumentParser) -> None:
    """What each request is, in curl's spellings (run, matrix and the TUI)."""
    g = p.add_argument_group("request", "what each request is (curl's spellings)")
    g.add_argument("-X", "--method", help="the method (default GET; POST when -d is given)")
    g.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a header, as many as you like",
    )
    g.add_argument(
        "-d",
        "--data",
        metavar="TEXT|@FILE",
        help="the body (Content-Type: application/json when it parses as JSON and no header "
        "says otherwise); as in curl, -d without -X means POST",
    )
    g.add_argument(
        "--expect", metavar="200,201", help="the statuses that succeed (default: below 400)"
    )
    g.add_argument(
        "--data-file",
        type=Path,
        metavar="FILE",
        help="rows (.jsonl or .csv) for {field} in the path and {{field}} in the body, one a "
        "request",
    )
    g.add_argument(
        "--data-order",
        choices=["round-robin", "random"],
        default="round-robin",
        help="the order rows are used in (default round-robin)",
    )
    g.add_argument(
        "--scenario",
        type=Path,
        metavar="FILE.toml",
        help="a mix of named requests picked by weight (loadtui scenario --target URL writes "
        "a start)",
    )
    g.add_argument("-k", "--insecure", action="store_true", help="https: accept any certificate")
    g.add_argument("--cacert", type=Path, metavar="FILE", help="https: trust this CA bundle")


def _add_gate(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("gate", "exit 3 when a run is not good enough (README: Exit codes)")
    g.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="EXPR",
        help="a figure the run must meet, as often as you like: 'p99<300ms', 'p50<=0.2s', "
        "'mean<50ms', 'max<1s', 'rps>150', 'errors<1%%', 'errors==0', 'stalls==0' (p50 p90 p99 "
        "p999 mean max in ms, s or us; < <= > >= ==)",
    )
    g.add_argument(
        "--fail-on",
        action="append",
        default=[],
        metavar="CODE[,CODE]",
        help="verdict codes (event_loop_blocked, ...), or critical / warning: a verdict of "
        "that severity or worse",
    )


def _add_tui_options(parser: argparse.ArgumentParser) -> None:
    """Without a command, loadtui opens the TUI; these options shape it."""
    p = parser.add_argument_group("TUI options (with no command)")
    p.add_argument(
        "--target",
        metavar="URL",
        help="point the panes at this running server (loopback); without --route, the left "
        "and right arrows step through its OpenAPI operations",
    )
    p.add_argument(
        "--route",
        action="append",
        metavar="ROUTE",
        help="a pane per --route (variant key or path; up to four); the request options below "
        "say how each is asked",
    )
    p.add_argument("--users", type=users, default=40, help="users per pane (default 40)")
    p.add_argument("--spawn-rate", type=spawn_rate, default=20.0, help="users started per s")
    p.add_argument("--think-min", type=seconds, default=0.1, help=argparse.SUPPRESS)
    p.add_argument("--think-max", type=seconds, default=0.5, help=argparse.SUPPRESS)
    p.add_argument("--timeout", type=timeout, default=60.0, help=argparse.SUPPRESS)
    p.add_argument("--threads", type=threads, default=None, help=argparse.SUPPRESS)
    p.add_argument("--duration", type=duration, default=None, help=argparse.SUPPRESS)
    p.add_argument(
        "--allow-remote", action="store_true", help="allow a --target that is not loopback"
    )
    _add_metrics(p)
    _add_request_options(parser)
    _add_engine_options(parser)
    p.add_argument(
        "--runs-dir",
        type=Path,
        default=Path("runs"),
        help="where `e`, q's export and Ctrl-C write run files (default runs/)",
    )
    parser.set_defaults(handler=_cmd_tui)


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="one headless run: progress on stderr, summary on stdout")
    p.add_argument(
        "route",
        metavar="ROUTE",
        nargs="?",
        help="a variant key (5, 4r) or a path (none with --scenario)",
    )
    p.add_argument(
        "--users",
        type=users,
        default=100,
        help=f"simulated users, up to {bounds.MAX_USERS:,} and what open files allow (default 100)",
    )
    p.add_argument(
        "--spawn-rate",
        type=spawn_rate,
        default=20.0,
        help=f"users started per second, up to {bounds.MAX_SPAWN_RATE:,g} (default 20)",
    )
    _add_load_options(p)
    p.add_argument(
        "--rate",
        type=rate,
        default=None,
        help="open loop: requests per second at fixed times, up to "
        f"{bounds.MAX_RATE:,g} (--users caps connections)",
    )
    p.add_argument("--target", metavar="URL", help="an already running server (loopback)")
    p.add_argument(
        "--allow-remote", action="store_true", help="allow a --target that is not loopback"
    )
    _add_metrics(p)
    _add_request_options(p)
    _add_engine_options(p)
    _add_gate(p)
    p.add_argument(
        "--json",
        metavar="FILE",
        type=Path,
        help="write the run file here (an existing file only with --force)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing --json file")
    p.add_argument(
        "--drain",
        type=seconds,
        default=None,
        metavar="S",
        help="after the load, watch the background backlog S seconds",
    )
    p.set_defaults(handler=_cmd_run)


def _add_matrix(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "matrix", help="the seed's runner: every route x 10/40/100 users, a fresh server each"
    )
    p.add_argument(
        "--users", type=user_list, default=[10, 40, 100], help="comma list (default 10,40,100)"
    )
    p.add_argument(
        "--routes",
        type=route_list,
        default=None,
        help="comma list of variant keys (default: the seed's 1-7), or of paths with --target",
    )
    _add_load_options(p)
    p.add_argument(
        "--target", metavar="URL", help="load this running server's --routes (paths) instead"
    )
    p.add_argument(
        "--allow-remote", action="store_true", help="allow a --target that is not loopback"
    )
    _add_metrics(p)
    _add_request_options(p)
    _add_engine_options(p)
    _add_gate(p)
    p.add_argument("--out", type=Path, default=Path("runs"), help="run files go to OUT/<stamp>/")
    p.set_defaults(handler=_cmd_matrix)


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="compare saved runs: table, Markdown, HTML, CSV, HDR logs")
    p.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="run files, or directories of them"
    )
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument("--html", type=Path, metavar="OUT", help="write a self-contained HTML report")
    p.add_argument("--csv", type=Path, metavar="OUT", help="write per-run statistics as CSV")
    p.add_argument(
        "--hdr-log", type=Path, metavar="DIR", help="write one HdrHistogram interval log per run"
    )
    p.add_argument(
        "--merge",
        action="store_true",
        help="merge runs of the same route and load into one (histograms added)",
    )
    p.set_defaults(handler=_cmd_report)


def _add_routes(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "routes",
        help="list the demo's route variants, or with --target the app's own (OpenAPI)",
    )
    p.add_argument("--target", metavar="URL", help="list this running app's operations")
    p.add_argument(
        "--allow-remote", action="store_true", help="allow a --target that is not loopback"
    )
    p.set_defaults(handler=_cmd_routes)


def _add_scenario(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "scenario", help="write a starting scenario (TOML) from a target's OpenAPI document"
    )
    p.add_argument("--target", metavar="URL", required=True, help="the running app")
    p.add_argument(
        "--allow-remote", action="store_true", help="allow a --target that is not loopback"
    )
    p.set_defaults(handler=_cmd_scenario)


def build_parser() -> argparse.ArgumentParser:
    from loadtui import __version__

    parser = _Parser(
        prog="loadtui",
        usage="%(prog)s [TUI OPTIONS]            open the TUI (no command)\n"
        "       %(prog)s COMMAND [OPTIONS] ...   run, matrix, report, server or routes",
        description="Load-test FastAPI route variants and watch the event loop, thread pool "
        "and background tasks live. With no command, loadtui opens the TUI: two panes on the "
        "demo's routes 5 and 4, --route panes on --target or its OpenAPI operations, or a "
        "--scenario (q quits, ? shows the keys).",
        epilog="`loadtui COMMAND --help` tells more of each command.",
    )
    parser.add_argument("--version", action="version", version=f"loadtui {__version__}")
    _add_tui_options(parser)
    sub = parser.add_subparsers(
        dest="command",
        metavar="COMMAND",
        title="commands (optional: none opens the TUI)",
        prog="loadtui",  # the usage above is two lines: each command's prog is "loadtui CMD"
    )
    _add_run(sub)
    _add_matrix(sub)
    _add_report(sub)
    _add_server(sub)
    _add_routes(sub)
    _add_scenario(sub)
    return parser


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
    from loadtui.fleet.local import FleetError
    from loadtui.targets.spawn import SpawnError
    from loadtui.targets.target import TargetError

    spec = options.run_spec(args)
    gate = options.gate(args, [request.name for request in spec.scenario])
    claim = options.claimed(args.json, args.force) if args.json is not None else None
    cluster = None
    try:
        count, cluster = options.placed(args, spec.engines, spec.plan.users)
        spec = replace(spec, engines=count, cluster=cluster)
        return run_command(spec, args.json, args.drain, gate)
    except (SpawnError, TargetError, FleetError) as exc:
        print(f"loadtui run: {exc}", file=sys.stderr)
        return exits.FAILED
    finally:
        if claim is not None:
            claim.release()
        if cluster is not None:
            cluster.close()


def _cmd_matrix(args: argparse.Namespace) -> int:
    from loadtui.cli.headless import matrix_command
    from loadtui.fleet.local import FleetError
    from loadtui.run import runfile
    from loadtui.targets.spawn import SpawnError

    routes, plan, target, shape, count = options.matrix_plan(args)
    gate = options.gate(args)
    options.writable(args.out / "probe.json", "run files in")
    count, cluster = options.placed(args, count, min(args.users))
    out_dir = runfile.new_run_dir(args.out)
    try:
        return matrix_command(
            routes,
            args.users,
            plan,
            out_dir,
            args.threads,
            target,
            shape,
            gate,
            engines=count,
            cluster=cluster,
        )
    except (SpawnError, FleetError) as exc:  # what was done is on disk already
        print(f"loadtui matrix: {exc}", file=sys.stderr)
        return exits.FAILED
    finally:
        if cluster is not None:
            cluster.close()


def _cmd_tui(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from loadtui.app import LoadtuiApp, with_target_routes
    from loadtui.targets.target import TargetError, check_reachable

    config = options.tui_config(args)
    if config.target is not None:
        try:
            check_reachable(config.target)
        except TargetError as exc:
            print(f"loadtui: {exc}", file=sys.stderr)
            return exits.FAILED
        config = with_target_routes(config)
    count, cluster = options.placed(args, config.engines, args.users)
    try:
        app = LoadtuiApp(replace(config, engines=count, cluster=cluster))
        code = app.run()
        # None: the app ended without choosing a code (a crash): never report success for that
        return code if code is not None else (app.return_code or exits.FAILED)
    finally:
        if cluster is not None:
            cluster.close()


def _cmd_report(args: argparse.Namespace) -> int:
    from loadtui.report.command import report_command
    from loadtui.run.runfile import RunFileError

    try:
        return report_command(args)
    except RunFileError as exc:
        raise UsageError(str(exc)) from None


def _cmd_routes(args: argparse.Namespace) -> int:
    import textwrap

    if args.target is not None:
        from loadtui.cli.routes import print_operations

        return print_operations(options.target(args, "/"))
    from loadtui.server.variants import VARIANTS

    for v in VARIANTS:
        print(f"{v.key:>3}  {v.path}")
        print(f"     {v.pattern}")
        print(textwrap.fill(v.lesson, 80, initial_indent=" " * 7, subsequent_indent=" " * 7))
    return exits.OK


def _cmd_scenario(args: argparse.Namespace) -> int:
    from loadtui.cli.routes import print_scenario

    return print_scenario(options.target(args, "/"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = args.handler
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
