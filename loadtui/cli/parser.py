"""The command line's grammar: every command and option, with the bounds and help a user
reads in ``--help``. Parsing checks each value on its own (``loadtui.cli.bounds``); what needs
several values together is checked by ``loadtui.cli.options``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from loadtui import exits
from loadtui.cli import bounds
from loadtui.cli.bounds import (
    duration,
    engine_count,
    port_number,
    rate,
    rate_stages,
    resolution,
    route_list,
    seconds,
    spawn_rate,
    step_seconds,
    threads,
    timeout,
    user_list,
    users,
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(exits.USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


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


def _add_load_options(p: argparse.ArgumentParser, default_s: float = 30.0) -> None:
    p.add_argument(
        "--duration",
        type=duration,
        default=None,  # default_duration when not given (and no --rate stages)
        help=f"seconds, {bounds.MIN_DURATION_S:g} (one interval) to a week (default {default_s:g}; "
        "with --rate stages: their total)",
    )
    p.set_defaults(default_duration=default_s)
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


def _add_target(p: argparse.ArgumentParser | argparse._ArgumentGroup, what: str, **kw) -> None:
    """--target (``what`` it is for) and --allow-remote, which lets it be other than loopback."""
    p.add_argument("--target", metavar="URL", help=what, **kw)
    p.add_argument(
        "--allow-remote", action="store_true", help="allow a --target that is not loopback"
    )


def _add_openapi(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    p.add_argument(
        "--openapi",
        metavar="URL|PATH",
        help="the target's OpenAPI document: a URL, a file, or a path on the target's server "
        "(default: found at /openapi.json, /api/openapi.json, /api/v1/openapi.json, "
        "/v1/openapi.json, under the target's path, or linked from /docs or /redoc)",
    )


def _add_metrics(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--metrics",
        metavar="URL",
        help="the target's metrics sidecar, http://HOST:PORT (default: found by itself: the "
        "sockets the target's processes listen on)",
    )


def _add_prometheus(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Live metrics out (run, matrix and the TUI)."""
    p.add_argument(
        "--prometheus-port",
        type=port_number,
        default=None,
        metavar="PORT",
        help="serve the load's own figures to Prometheus at http://127.0.0.1:PORT/metrics "
        "while it runs (0 picks a free port and says which)",
    )
    p.add_argument(
        "--prometheus-linger",
        type=seconds,
        default=None,
        metavar="S",
        help="after the load, keep serving its final figures until they are scraped, at most "
        f"S seconds, up to {bounds.MAX_SECONDS:g} (default 20: a 15 s scrape interval sees a "
        "short run whole; 0: leave at once)",
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
    g.add_argument("-X", "--method", help="the method (default GET; POST with a body)")
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
        help="the body (Content-Type: application/json when it parses as JSON, else "
        "application/x-www-form-urlencoded as curl, unless a header says otherwise); as in "
        "curl, -d without -X means POST",
    )
    g.add_argument(
        "--data-urlencode",
        action="append",
        default=[],
        metavar="[NAME]=TEXT|[NAME]@FILE",
        help="a form field, percent-encoded as curl does, as many as you like: joined with & "
        "(after -d's data) and sent as application/x-www-form-urlencoded",
    )
    g.add_argument(
        "-F",
        "--form",
        action="append",
        default=[],
        metavar="NAME=TEXT|NAME=@FILE",
        help="a multipart/form-data field, as many as you like; a file (@FILE, read once "
        "before the run) may end in ;type=TYPE and ;filename=NAME, as in curl (not with -d)",
    )
    g.add_argument(
        "--expect", metavar="200,201", help="the statuses that succeed (default: below 400)"
    )
    g.add_argument(
        "--data-file",
        type=Path,
        metavar="FILE",
        help="rows (.jsonl or .csv) for {field} in the path and {{field}} in the path, header "
        "values and the body, one a request",
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
        help="a mix of named requests picked by weight, or a journey: [[setup]] once per user, "
        "then the mix or a [[flow]] in order (loadtui scenario --target URL writes a start)",
    )
    g.add_argument(
        "--no-cookies",
        action="store_true",
        help="a scenario's users keep no cookies (by default each has a jar, as a browser)",
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


def _add_outcome(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--allow-no-success",
        action="store_true",
        help="a run in which no request succeeded (every one failed, or none was answered) "
        "is done, exit 0 (by default it is a failed run, exit 1)",
    )


def _add_tui_options(parser: argparse.ArgumentParser) -> None:
    """Without a command, loadtui opens the TUI; these options shape it."""
    p = parser.add_argument_group("TUI options (with no command)")
    _add_target(
        p,
        "point the panes at this running server (loopback); without --route, the left and "
        "right arrows step through its OpenAPI operations",
    )
    p.add_argument(
        "--route",
        action="append",
        metavar="ROUTE",
        help="a pane per --route (variant key or path; up to four); the request options below "
        "say how each is asked",
    )
    _add_openapi(p)
    p.add_argument("--users", type=users, default=40, help="users per pane (default 40)")
    p.add_argument("--spawn-rate", type=spawn_rate, default=20.0, help="users started per s")
    p.add_argument("--think-min", type=seconds, default=0.1, help=argparse.SUPPRESS)
    p.add_argument("--think-max", type=seconds, default=0.5, help=argparse.SUPPRESS)
    p.add_argument("--timeout", type=timeout, default=60.0, help=argparse.SUPPRESS)
    p.add_argument("--threads", type=threads, default=None, help=argparse.SUPPRESS)
    p.add_argument("--duration", type=duration, default=None, help=argparse.SUPPRESS)
    _add_metrics(p)
    _add_prometheus(p)
    _add_request_options(parser)
    _add_engine_options(parser)
    p.add_argument(
        "--runs-dir",
        type=Path,
        default=Path("runs"),
        help="where `e`, q's export and Ctrl-C write run files (default runs/)",
    )


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
        type=rate_stages,
        default=None,
        help="open loop: requests per second at fixed times, up to "
        f"{bounds.MAX_RATE:,g} (--users caps connections); or stages, each held or ramped: "
        "10:200@60s, 10@10s,50@30s,50:200@60s (durations in ms, s, m; the run lasts their "
        "total)",
    )
    _add_target(p, "an already running server (loopback)")
    _add_metrics(p)
    _add_request_options(p)
    _add_engine_options(p)
    _add_gate(p)
    _add_outcome(p)
    _add_prometheus(p)
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
    _add_target(p, "load this running server's --routes (paths) instead")
    _add_metrics(p)
    _add_request_options(p)
    _add_engine_options(p)
    _add_gate(p)
    _add_outcome(p)
    _add_prometheus(p)
    p.add_argument("--out", type=Path, default=Path("runs"), help="run files go to OUT/<stamp>/")


def _add_capacity(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "capacity",
        help="the highest open-loop rate a route holds within its SLOs, and why it breaks above",
    )
    p.add_argument(
        "route", metavar="ROUTE", nargs="?", help="a variant key or a path (none with --scenario)"
    )
    p.add_argument(
        "--slo",
        action="append",
        default=[],
        required=True,
        metavar="EXPR",
        help="a latency every step must hold, as often as you like: 'p99<200ms', 'p50<=50ms', "
        "'orders.p99<1s' (p50 p90 p99 p999 mean max, ttfb_..., gap_...; < or <=); errors < 1%% "
        "are always asked",
    )
    p.add_argument(
        "--min-rate",
        type=rate,
        default=5.0,
        metavar="RPS",
        help="the first rate tried, req/s (default 5)",
    )
    p.add_argument(
        "--max-rate",
        type=rate,
        default=2000.0,
        metavar="RPS",
        help="the highest rate tried, req/s (default 2000): held there, the search says so",
    )
    p.add_argument(
        "--ramp-step",
        type=step_seconds,
        default=2.0,
        metavar="S",
        help="each quick ramp step (doubling the rate), s (default 2)",
    )
    p.add_argument(
        "--step",
        type=step_seconds,
        default=5.0,
        metavar="S",
        help="each steady step (confirming, then bisecting), s (default 5)",
    )
    p.add_argument(
        "--resolution",
        type=resolution,
        default=5.0,
        metavar="PCT",
        help="stop once the first rate that broke is within PCT %% of the highest that held "
        "(default 5)",
    )
    p.add_argument(
        "--users",
        type=users,
        default=256,
        help="connections at most (open loop), up to what open files allow (default 256)",
    )
    p.add_argument(
        "--timeout",
        type=timeout,
        default=30.0,
        help=f"request timeout, s, up to {bounds.MAX_SECONDS:g} (default %(default)s)",
    )
    p.add_argument(
        "--threads", type=threads, default=None, help="thread pool size of a spawned demo server"
    )
    _add_target(p, "an already running server (loopback)")
    _add_metrics(p)
    _add_request_options(p)
    _add_engine_options(p)
    _add_prometheus(p)
    p.add_argument(
        "--out", type=Path, default=Path("runs"), help="step run files and the page: OUT/<stamp>/"
    )
    p.add_argument(
        "--json", metavar="FILE", type=Path, help="write the result here (schema: README)"
    )
    p.add_argument("--force", action="store_true", help="replace an existing --json file")


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


def _add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="did it get slower: two runs (or directories of runs) with confidence intervals",
    )
    p.add_argument("base", type=Path, metavar="BASE", help="the run file (or directory) before")
    p.add_argument("new", type=Path, metavar="NEW", help="the run file (or directory) after")
    p.add_argument(
        "--fail-if",
        action="append",
        metavar="COND",
        help="exit 3 when it holds beyond noise: 'p99 slower by 10%%' (p50, p90, p99, mean; "
        "%% or ms), 'rps slower by 5%%', 'errors above 1%%'; may be repeated",
    )
    p.add_argument("--markdown", type=Path, metavar="FILE", help="write Markdown (- for stdout)")
    p.add_argument("--html", type=Path, metavar="OUT", help="write a self-contained HTML page")
    p.add_argument(
        "--allow-different-load",
        action="store_true",
        help="compare runs whose loads differ (the difference is printed first)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="the bootstrap's seed (default 0: reproducible)"
    )


def _add_routes(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "routes",
        help="list the demo's route variants, or with --target the app's own (OpenAPI)",
    )
    _add_target(p, "list this running app's operations")
    _add_openapi(p)


def _add_scenario(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "scenario", help="write a starting scenario (TOML) from a target's OpenAPI document"
    )
    _add_target(p, "the running app", required=True)
    _add_openapi(p)


def build_parser() -> argparse.ArgumentParser:
    from loadtui import __version__

    parser = _Parser(
        prog="loadtui",
        usage="%(prog)s [TUI OPTIONS]            open the TUI (no command)\n"
        "       %(prog)s COMMAND [OPTIONS] ...   run, matrix, capacity, report, compare, server, "
        "routes or scenario",
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
    _add_capacity(sub)
    _add_report(sub)
    _add_compare(sub)
    _add_server(sub)
    _add_routes(sub)
    _add_scenario(sub)
    return parser
