"""Command-line entry points. Bad input gets one clear line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad usage or bad input found after parsing; reported as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


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


def _add_routes(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("routes", help="list the route variants with one-line explanations")
    p.set_defaults(handler=_cmd_routes)


def build_parser() -> argparse.ArgumentParser:
    from loadtui import __version__

    parser = _Parser(
        prog="loadtui",
        description="Load-test FastAPI route variants and watch the event loop, thread pool "
        "and background tasks live.",
    )
    parser.add_argument("--version", action="version", version=f"loadtui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_server(sub)
    _add_routes(sub)
    return parser


# ---- commands --------------------------------------------------------------------------
def _cmd_server(args: argparse.Namespace) -> int:
    from server.serve import ServeOptions, serve

    metrics_port = args.metrics_port
    if metrics_port is None:
        metrics_port = args.port + 1 if args.port else 0
    if metrics_port > 65535:
        raise UsageError("--port 65535 leaves no room for the sidecar: give --metrics-port")
    opts = ServeOptions(
        host=args.host,
        port=args.port,
        metrics_host=args.metrics_host,
        metrics_port=metrics_port,
        threads=args.threads,
        announce_json=args.announce_json,
        exit_with_parent=args.exit_with_parent,
    )
    try:
        return serve(opts)
    except OSError as exc:
        raise UsageError(f"cannot listen: {exc.strerror or exc}") from None
    except KeyboardInterrupt:
        return EXIT_OK


def _cmd_routes(_args: argparse.Namespace) -> int:
    import textwrap

    from server.routes import VARIANTS

    for v in VARIANTS:
        print(f"{v.key:>3}  {v.path}")
        print(f"     {v.pattern}")
        print(textwrap.fill(v.lesson, 80, initial_indent=" " * 7, subsequent_indent=" " * 7))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_OK
    try:
        return handler(args)
    except UsageError as exc:
        print(f"loadtui {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `loadtui routes | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
