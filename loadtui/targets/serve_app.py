"""Serve an app named by an import string, instrumented, the way ``uvicorn package.module:app``
loads it: the pytest plugin's server (``python -m loadtui.targets.serve_app package.module:app``).

It runs in the directory the import is resolved from (first on ``sys.path``, as for uvicorn run
there), with the caller's ``sys.path`` after it; it announces itself as the demo server does (one
JSON line on stdout) and exits with its parent. Anything the app prints goes to stderr: stdout
carries the announcement only, so a chatty app never fills a pipe nobody reads.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO


@dataclass(frozen=True)
class AppImport:
    """An app to serve, and where its import string is resolved from."""

    import_string: str  # "package.module:app", or a factory: "package.module:create_app"
    directory: str  # the server's working directory, first on its sys.path
    path: tuple[str, ...] = ()  # then these: the caller's sys.path

    def command(self, host: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "loadtui.targets.serve_app",
            self.import_string,
            "--host",
            host,
        ]

    def environment(self) -> dict[str, str]:
        from loadtui.server.instrumentation import ENV_SWITCH

        env = {name: value for name, value in os.environ.items() if name != ENV_SWITCH}
        env["PYTHONPATH"] = os.pathsep.join(entry for entry in self.path if entry)
        return env


class AppError(Exception):
    """The app cannot be served: the message says why, on one line."""


def load(import_string: str) -> Any:
    """The app, resolved as uvicorn does (a factory is called), and instrumented."""
    from uvicorn.importer import ImportFromStringError, import_from_string

    try:
        found = import_from_string(import_string)
    except ImportFromStringError as exc:
        raise AppError(f"cannot import {import_string}: {exc}") from None
    except Exception as exc:  # the app's own module failed to import
        raise AppError(f"importing {import_string} failed: {type(exc).__name__}: {exc}") from None
    try:
        found = found()  # uvicorn's rule: what can be called without arguments is a factory
    except TypeError:
        pass
    except Exception as exc:
        raise AppError(f"the factory {import_string} failed: {type(exc).__name__}: {exc}") from None
    return _instrumented(import_string, found)


def _instrumented(import_string: str, app: Any) -> Any:
    from loadtui.server import InstrumentError, instrument

    if not all(hasattr(app, name) for name in ("state", "router", "add_middleware")):
        raise AppError(
            f"{import_string} is not a FastAPI or Starlette app: it cannot be instrumented"
        )
    try:
        instrument(app)  # does nothing to an app that instruments itself
    except InstrumentError as exc:
        raise AppError(f"cannot instrument {import_string}: {exc}") from None
    return app


class _Errors(logging.Filter):
    """Keeps the last line of each error uvicorn logs: why the app's startup failed. A filter,
    not a handler: uvicorn's logging setup replaces the handlers, but keeps the filters."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                exc = record.exc_info[1]
                text = f"{type(exc).__name__}: {exc}"
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            self.lines += lines[-1:]
        return True

    def reason(self) -> str:
        # uvicorn ends with "Application startup failed. Exiting."; the cause comes before it
        causes = [line for line in self.lines if not line.startswith("Application startup")]
        return (causes or self.lines or ["see its output above"])[-1]


def _announcement_channel() -> TextIO:
    """The real stdout, for the ready line; fd 1 (and so print()) goes to stderr from now."""
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return channel


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtui.targets.serve_app")
    parser.add_argument("app", help="package.module:app, as uvicorn takes it")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    channel = _announcement_channel()
    try:
        app = load(args.app)
    except AppError as exc:
        print(exc, file=sys.stderr)
        return 2
    from loadtui.server.serve import ServeOptions, serve

    errors = _Errors()
    logging.getLogger("uvicorn.error").addFilter(errors)
    options = ServeOptions(
        host=args.host, port=0, metrics_port=0, announce_json=True, exit_with_parent=True
    )
    try:
        code = serve(options, app, announce_to=channel)
    except OSError as exc:
        print(f"cannot listen: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except SystemExit as exc:  # uvicorn's way to say that the app's startup failed
        code = exc.code if isinstance(exc.code, int) and exc.code else 1
    if code:
        print(f"the app did not start: {errors.reason()}", file=sys.stderr, flush=True)
        # at once: the lifeline thread still reads stdin, which would abort a normal shutdown
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
