"""Run files on disk: written atomically, loaded and checked through the run document's models
(:mod:`loadtui.run.rundoc`). Anything wrong with a file is a :class:`RunFileError` whose message
names the file, on one line."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import stat
import tempfile
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError
from pydantic_core import from_json

from loadtui import __version__
from loadtui.engine import hdr
from loadtui.run.atomic import write_text_atomic
from loadtui.run.rundoc import SCHEMA_ID, RunDocument
from loadtui.safe_text import shown

MAX_FILE_BYTES = 512 * 1024 * 1024  # a run file of a day at a thousand req/s is ~100 MB


class RunFileError(ValueError):
    """A run file that cannot be read; the message names the file, on one line."""

    def __init__(self, message: str) -> None:
        # names, keys and values quoted from a hostile file may hold line breaks or escapes
        super().__init__(shown(message))


# ---- writing -------------------------------------------------------------------------------
def stamp() -> str:
    """The name of a ``runs/<stamp>/`` directory: local time, sortable."""
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def file_name(route: str, users: int, method: str = "GET") -> str:
    """A run's file name: ``route-<route>-<users>u.json``, the route's path made safe for any
    file system (``/api/orders`` -> ``api_orders``; ``/`` -> ``root``); a method other than GET
    comes first (``route-POST-api_orders-10u.json``), so that two methods never share a name."""
    name = re.sub(r"[^\w.-]+", "_", route.strip("/")) or "root"
    if method != "GET":
        name = f"{re.sub(r'[^A-Za-z0-9]+', '_', method)}-{name}"
    return f"route-{name}-{users}u.json"


def new_run_dir(parent: Path) -> Path:
    """A directory of its own under ``parent``: ``<stamp>``, or ``<stamp>-2`` ... when another
    run made one the same second (two runs never share one)."""
    parent.mkdir(parents=True, exist_ok=True)
    base = stamp()
    for number in range(1, 1000):
        directory = parent / (base if number == 1 else f"{base}-{number}")
        try:
            directory.mkdir()
        except FileExistsError:
            continue
        return directory
    raise FileExistsError(17, "too many run directories this second", str(parent / base))


class Claim:
    """A run file this run alone will write: held by a lock beside it (released however the
    process ends, so a run killed mid-way leaves no stale claim)."""

    def __init__(self, path: Path, force: bool) -> None:
        if path.exists() and not force:
            raise FileExistsError(17, "exists: give --force to replace it", str(path))
        self.path = path
        self._lock = path.parent / f".{path.name}.lock"
        self._fd = os.open(self._lock, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise FileExistsError(17, "another loadtui run is writing it", str(path)) from None

    def release(self) -> None:
        with contextlib.suppress(OSError):
            self._lock.unlink()
        os.close(self._fd)


def check_writable(path: Path) -> None:
    """Raise OSError now if ``path`` cannot be written later (directory made if missing)."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise IsADirectoryError(21, "is a directory", str(path))
    fd, probe = tempfile.mkstemp(dir=directory, prefix=".loadtui-check-")
    try:
        os.write(fd, b"x" * 65536)  # a full disk shows up here, before the run
    finally:
        os.close(fd)
        os.unlink(probe)


def write(path: Path, document: RunDocument) -> None:
    write_text_atomic(path, document.to_json())


# ---- reading -------------------------------------------------------------------------------
def _read_text(path: Path) -> str:
    """The file's text; only a regular file, and only up to MAX_FILE_BYTES.

    Opened without blocking, then checked: a FIFO or a device (a symlink to /dev/zero, say)
    is refused before a byte is read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise RunFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as stream:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RunFileError(f"{path}: not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise RunFileError(f"{path}: {info.st_size:,} bytes is too large for a run file")
        try:
            data = stream.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise RunFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise RunFileError(f"{path}: too large for a run file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise RunFileError(f"{path}: not a loadtui run file (not UTF-8 text)") from None


def _where(error: dict[str, object]) -> str:
    location = error.get("loc") or ()
    return "/".join(str(part) for part in location if isinstance(part, str | int)) or "top level"


def _parse(path: Path, text: str) -> RunDocument:
    try:
        raw = from_json(text, allow_inf_nan=False)
    except ValueError as exc:
        raise RunFileError(f"{path}: not JSON (truncated or corrupt): {exc}") from None
    schema = raw.get("schema") if isinstance(raw, dict) else None
    if not isinstance(schema, str) or not schema.startswith("loadtui.run/"):
        raise RunFileError(f"{path}: not a loadtui run file (no 'schema': '{SCHEMA_ID}')")
    if schema != SCHEMA_ID:
        raise RunFileError(
            f"{path}: schema {schema[:40]} is not supported by loadtui {__version__} "
            f"(it reads {SCHEMA_ID})"
        )
    try:
        return RunDocument.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        message = str(error.get("msg", "invalid"))[:200]
        raise RunFileError(f"{path}: invalid run file at {_where(error)}: {message}") from None


def load(path: Path) -> RunDocument:
    """A run file, checked through and through; RunFileError naming it if anything is off."""
    document = _parse(path, _read_text(path))
    for where, data in document.encoded_histograms():
        try:
            hdr.check_encoding(data)
            hdr.check_counts(data)
        except Exception as exc:
            raise RunFileError(f"{path}: the histogram at {where} does not decode: {exc}") from None
    return document
