"""Command-line entry points. Bad input gets one clear line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from loadtui import exits, prepare
from loadtui.prepare import UsageError
from loadtui.text import shown


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(exits.USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ---- value checkers (argparse `type=`) ---------------------------------------------------
def _number(text: str, kind: Callable[[str], float], what: str) -> float:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def positive_int(text: str) -> int:
    value = int(_number(text, int, "a whole number"))
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def port_number(text: str) -> int:
    value = int(_number(text, int, "a port number"))
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return value


def positive_float(text: str) -> float:
    value = _number(text, float, "a number")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number above 0")
    return value


def non_negative_float(text: str) -> float:
    value = _number(text, float, "a number")
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number, 0 or more")
    return value


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
    p.add_argument(
        "--threads", type=positive_int, default=None, help="thread pool size (default 40)"
    )
    p.add_argument("--announce-json", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--exit-with-parent", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(handler=_cmd_server)


def user_list(text: str) -> list[int]:
    return [positive_int(part.strip()) for part in text.split(",") if part.strip()] or [
        positive_int("")
    ]


def route_list(text: str) -> list[str]:
    routes = [part.strip() for part in text.split(",") if part.strip()]
    if not routes:
        raise argparse.ArgumentTypeError("give at least one route")
    return routes


def _add_load_options(p: argparse.ArgumentParser, duration: float = 30.0) -> None:
    p.add_argument(
        "--duration", type=positive_float, default=duration, help="seconds (default %(default)s)"
    )
    p.add_argument(
        "--think-min",
        type=non_negative_float,
        default=0.1,
        help="least think time per user, s (default %(default)s)",
    )
    p.add_argument(
        "--think-max",
        type=non_negative_float,
        default=0.5,
        help="most think time per user, s (default %(default)s)",
    )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=60.0,
        help="request timeout, s (default %(default)s)",
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="thread pool size of the spawned demo server (default 40)",
    )


def _add_metrics(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--metrics",
        metavar="URL",
        help="the target's metrics sidecar, http://HOST:PORT (default: found by itself: the "
        "sockets the target's processes listen on)",
    )


def _add_tui_options(parser: argparse.ArgumentParser) -> None:
    """Without a command, loadtui opens the TUI; these options shape it."""
    p = parser.add_argument_group("TUI options (with no command)")
    p.add_argument(
        "--target", metavar="URL", help="point the panes at this running server (loopback)"
    )
    p.add_argument(
        "--route",
        action="append",
        metavar="ROUTE",
        help="a pane per --route (variant key or path; up to four)",
    )
    p.add_argument("--users", type=positive_int, default=40, help="users per pane (default 40)")
    p.add_argument("--spawn-rate", type=positive_float, default=20.0, help="users started per s")
    p.add_argument("--think-min", type=non_negative_float, default=0.1, help=argparse.SUPPRESS)
    p.add_argument("--think-max", type=non_negative_float, default=0.5, help=argparse.SUPPRESS)
    p.add_argument("--timeout", type=positive_float, default=60.0, help=argparse.SUPPRESS)
    p.add_argument("--threads", type=positive_int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--duration", type=positive_float, default=None, help=argparse.SUPPRESS)
    p.add_argument(
        "--allow-remote", action="store_true", help="allow a --target that is not loopback"
    )
    _add_metrics(p)
    p.add_argument(
        "--runs-dir",
        type=Path,
        default=Path("runs"),
        help="where `e`, q's export and Ctrl-C write run files (default runs/)",
    )
    parser.set_defaults(handler=_cmd_tui)


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="one headless run: progress on stderr, summary on stdout")
    p.add_argument("route", metavar="ROUTE", help="a variant key (5, 4r) or a path")
    p.add_argument("--users", type=positive_int, default=100, help="simulated users (default 100)")
    p.add_argument(
        "--spawn-rate", type=positive_float, default=20.0, help="users started per second"
    )
    _add_load_options(p)
    p.add_argument(
        "--rate",
        type=positive_float,
        default=None,
        help="open loop: requests per second at fixed times (--users caps connections)",
    )
    p.add_argument("--target", metavar="URL", help="an already running server (loopback)")
    p.add_argument(
        "--allow-remote", action="store_true", help="allow a --target that is not loopback"
    )
    _add_metrics(p)
    p.add_argument("--json", metavar="FILE", type=Path, help="write the run file here")
    p.add_argument(
        "--drain",
        type=non_negative_float,
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
    p = sub.add_parser("routes", help="list the route variants with one-line explanations")
    p.set_defaults(handler=_cmd_routes)


def build_parser() -> argparse.ArgumentParser:
    from loadtui import __version__

    parser = _Parser(
        prog="loadtui",
        usage="%(prog)s [TUI OPTIONS]            open the TUI (no command)\n"
        "       %(prog)s COMMAND [OPTIONS] ...   run, matrix, report, server or routes",
        description="Load-test FastAPI route variants and watch the event loop, thread pool "
        "and background tasks live. With no command, loadtui opens the TUI: two panes on the "
        "demo's routes 5 and 4, or --route panes on --target (q quits, ? shows the keys).",
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
    return parser


# ---- commands: check the input (loadtui.prepare), then do the work ---------------------
def _cmd_server(args: argparse.Namespace) -> int:
    from loadtui.server.serve import serve

    opts = prepare.server_options(args)
    try:
        return serve(opts)
    except OSError as exc:
        raise UsageError(f"cannot listen: {exc.strerror or exc}") from None
    except KeyboardInterrupt:
        return exits.OK


def _cmd_run(args: argparse.Namespace) -> int:
    from loadtui.headless import run_command
    from loadtui.spawn import SpawnError
    from loadtui.target import TargetError

    spec = prepare.run_spec(args)
    if args.json is not None:
        prepare.writable(args.json, "the run file")
    try:
        return run_command(spec, args.json, args.drain)
    except (SpawnError, TargetError) as exc:
        print(f"loadtui run: {exc}", file=sys.stderr)
        return exits.FAILED


def _cmd_matrix(args: argparse.Namespace) -> int:
    from loadtui import runfile
    from loadtui.headless import matrix_command
    from loadtui.spawn import SpawnError

    routes, plan, target = prepare.matrix_plan(args)
    out_dir = args.out / runfile.stamp()
    prepare.writable(out_dir / "probe.json", "run files in")
    try:
        return matrix_command(routes, args.users, plan, out_dir, args.threads, target)
    except SpawnError as exc:  # what was done is on disk already
        print(f"loadtui matrix: {exc}", file=sys.stderr)
        return exits.FAILED


def _cmd_tui(args: argparse.Namespace) -> int:
    from loadtui.app import LoadtuiApp
    from loadtui.target import TargetError, check_reachable

    config = prepare.tui_config(args)
    if config.target is not None:
        try:
            check_reachable(config.target)
        except TargetError as exc:
            print(f"loadtui: {exc}", file=sys.stderr)
            return exits.FAILED
    app = LoadtuiApp(config)
    code = app.run()
    # None: the app ended without choosing a code (a crash): never report success for that
    return code if code is not None else (app.return_code or exits.FAILED)


def _cmd_report(args: argparse.Namespace) -> int:
    from loadtui.report.command import report_command
    from loadtui.runfile import RunFileError

    try:
        return report_command(args)
    except RunFileError as exc:
        raise UsageError(str(exc)) from None


def _cmd_routes(_args: argparse.Namespace) -> int:
    import textwrap

    from loadtui.server.variants import VARIANTS

    for v in VARIANTS:
        print(f"{v.key:>3}  {v.path}")
        print(f"     {v.pattern}")
        print(textwrap.fill(v.lesson, 80, initial_indent=" " * 7, subsequent_indent=" " * 7))
    return exits.OK


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
