"""Which stack frames are the application's own code: the one rule that names a stall's culprit
and a busy thread's holder.

A frame is the app's when its module belongs to one of the app's own packages (those its routes
come from, and the one that called ``instrument(app)``), or when its file lies outside the
standard library and outside every directory installed packages live in (site-packages,
dist-packages: wherever pip put them, whatever they are). So a library the app uses (psycopg,
SQLAlchemy, passlib, requests) is never the culprit, only the app's function that called it; that
call is the *leaf*: ``read_items (app/items.py:62) → psycopg Connection.wait``.

loadtui's own modules are plumbing, except the demo app's routes: their work functions are the
application code the demo shows being blamed.
"""

from __future__ import annotations

import functools
import linecache
import os
import re
import site
import sys
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass
from types import CodeType, FrameType

from .framepaths import shown_file

# Frames from these packages are plumbing even where they are not installed (a checkout on
# sys.path, a vendored copy).
FRAMEWORK_PACKAGES = frozenset(
    {"uvicorn", "starlette", "fastapi", "anyio", "uvloop", "h11", "httptools", "sniffio"}
    | {"pydantic", "pydantic_core", "gunicorn", "loadtui"}
)
DEMO_APP_MODULES = frozenset({"loadtui.server.routes"})
MAX_STACK_FRAMES = 40
# A frame of these modules runs the loop: frames beyond it started the loop.
LOOP_RUNNERS = frozenset({"asyncio.runners", "asyncio.base_events", "uvloop"})
MAX_LEAF = 120
MAX_JUDGED = 16_384  # code objects whose verdict is kept
_CALLEE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?=\s*\()")


def _installed_roots() -> tuple[str, ...]:
    """The standard library's and every installed-packages directory, normalised."""
    paths = sysconfig.get_paths()
    roots = [paths.get(key, "") for key in ("stdlib", "platstdlib", "purelib", "platlib")]
    roots += site.getsitepackages() if hasattr(site, "getsitepackages") else []
    roots.append(site.getusersitepackages() if hasattr(site, "getusersitepackages") else "")
    roots += [p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages")]
    roots += [_package_dir("loadtui"), os.path.dirname(__file__)]  # loadtui's own files
    normal = {_normal(root) for root in roots if root}
    normal |= {_normal(os.path.realpath(root)) for root in roots if root}
    return tuple(sorted(root.rstrip(os.sep) + os.sep for root in normal))


def _package_dir(name: str) -> str:
    module = sys.modules.get(name)
    filename = getattr(module, "__file__", None)
    return os.path.dirname(filename) if isinstance(filename, str) else ""


def _normal(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


def _top(module: object) -> str:
    return module.partition(".")[0] if isinstance(module, str) else ""


@dataclass(frozen=True)
class Caller:
    """An application frame and what it was inside when it was seen."""

    function: str  # its qualified name
    location: str  # "file:line", the file as framepaths shows it
    leaf: str  # the library call it was in ("psycopg Connection.wait", "time.sleep"), or ""


class AppCode:
    """Tells the application's frames from the rest; built once, asked from any thread."""

    def __init__(self, packages: Iterable[str] = ()) -> None:
        tops = {_top(p) for p in packages}
        self.packages = frozenset(
            t for t in tops if t and t not in FRAMEWORK_PACKAGES | sys.stdlib_module_names
        )
        self._roots = _installed_roots()
        self._owns_file = functools.lru_cache(maxsize=8192)(self._file_is_app)
        self._judged: dict[int, tuple[CodeType, bool]] = {}  # the sampler asks the same often

    def with_packages(self, packages: Iterable[str]) -> AppCode:
        return AppCode({*self.packages, *packages})

    def owns(self, frame: FrameType) -> bool:
        code = frame.f_code
        known = self._judged.get(id(code))
        if known is not None and known[0] is code:
            return known[1]
        judged = self._judge(frame)
        if len(self._judged) >= MAX_JUDGED:
            self._judged.clear()
        self._judged[id(code)] = (code, judged)  # by identity: equal code may be elsewhere
        return judged

    def _judge(self, frame: FrameType) -> bool:
        module = frame.f_globals.get("__name__")
        if module in DEMO_APP_MODULES:
            return True
        top = _top(module)
        if top in self.packages:
            return True
        if top in FRAMEWORK_PACKAGES or top in sys.stdlib_module_names:
            return False
        return self._owns_file(frame.f_code.co_filename)

    def _file_is_app(self, filename: str) -> bool:
        if not filename or filename.startswith("<") or not os.path.isabs(filename):
            return False  # "<frozen ...>", "<string>": nobody's source file
        return not _normal(filename).startswith(self._roots)

    def innermost(
        self, frame: FrameType | None, in_loop: bool = False
    ) -> tuple[FrameType, list[FrameType]] | None:
        """The innermost application frame from ``frame`` outwards and the frames inside it;
        ``in_loop``: none beyond the loop's run call. Walks no further than it must."""
        inside: list[FrameType] = []
        while frame is not None and len(inside) < MAX_STACK_FRAMES:
            if in_loop and frame.f_globals.get("__name__") in LOOP_RUNNERS:
                return None
            if self.owns(frame):
                return frame, inside
            inside.append(frame)
            frame = frame.f_back
        return None


def described(frame: FrameType, inside: list[FrameType]) -> Caller:
    return Caller(
        frame.f_code.co_qualname, f"{shown_file(frame)}:{frame.f_lineno}", leaf_of(inside, frame)
    )


def stack_of(frame: FrameType | None) -> list[FrameType]:
    """``frame`` and its callers, innermost first, at most MAX_STACK_FRAMES."""
    frames: list[FrameType] = []
    while frame is not None and len(frames) < MAX_STACK_FRAMES:
        frames.append(frame)
        frame = frame.f_back
    return frames


def describe(frame: FrameType) -> str:
    """``psycopg Connection.wait``: a library frame, by its top-level package."""
    return f"{_top(frame.f_globals.get('__name__')) or '?'} {frame.f_code.co_qualname}"


def leaf_of(inside: list[FrameType], app_frame: FrameType) -> str:
    """What the app's frame was in: the innermost library frame that is not the standard
    library's, else the innermost one, else the call the app's own line was making (a C
    function such as ``time.sleep`` leaves no frame of its own)."""
    if not inside:
        return called_at(app_frame.f_code, app_frame.f_lasti)
    for frame in inside:
        if _top(frame.f_globals.get("__name__")) not in sys.stdlib_module_names:
            return describe(frame)
    return describe(inside[0])


@functools.lru_cache(maxsize=4096)
def called_at(code: CodeType, lasti: int) -> str:
    """The dotted name being called at instruction offset ``lasti`` ("time.sleep",
    "hashlib.pbkdf2_hmac", "self.lock.acquire"), read from the call's source span; "" when it
    cannot be read."""
    positions = list(code.co_positions())
    index = lasti // 2  # one entry per 2-byte code unit
    if not 0 <= index < len(positions):
        return ""
    line, end_line, column, _end = positions[index]
    if line is None or column is None or line != end_line:
        return ""
    found = _CALLEE.match(linecache.getline(code.co_filename, line)[column:])
    return found.group(0)[:MAX_LEAF] if found else ""


def packages_of(routes: Iterable[object], depth: int = 0) -> set[str]:
    """The top-level packages the app's endpoints are defined in (mounted apps' too)."""
    found: set[str] = set()
    for route in routes:
        endpoint = getattr(route, "endpoint", None)
        found.add(_top(getattr(endpoint, "__module__", None)))
        inner = getattr(getattr(route, "app", None), "routes", None)
        if inner is not None and depth < 4:
            found |= packages_of(inner, depth + 1)
    return found - {""}
