"""loadtui.server.appframes: which frames are the application's (never an installed library's,
whatever its name), and the leaf: the library call the app's frame was in."""

from __future__ import annotations

import hashlib
import sys
import sysconfig
import textwrap
import threading
import time
from pathlib import Path
from types import FrameType

from fastapi import FastAPI

from loadtui.server.appframes import AppCode, Caller, described, packages_of, stack_of

APP = AppCode()

# A database driver as pip installs it: a file in site-packages, a name on no list.
DRIVER = """
class Connection:
    def wait(self, look):
        return look()
"""


def installed(module: str, source: str, root: str | None = None) -> dict:
    """Run ``source`` as if it were ``module`` installed under ``root`` (site-packages)."""
    folder = Path(root or sysconfig.get_paths()["purelib"]) / module
    namespace: dict = {"__name__": f"{module}.connection"}
    code = compile(textwrap.dedent(source), str(folder / "connection.py"), "exec")
    exec(code, namespace)
    return namespace


def here() -> list[FrameType]:
    return stack_of(sys._getframe(1))


def caller_of(frame: FrameType | None) -> Caller | None:
    found = APP.innermost(frame)
    return None if found is None else described(*found)


def read_items(connection) -> list[FrameType]:
    return connection.wait(lambda: stack_of(sys._getframe(1)))


def test_an_installed_library_is_never_the_app_whatever_its_name():
    connection = installed("zzdriver", DRIVER)["Connection"]()
    frames = read_items(connection)
    assert not APP.owns(frames[0]) and APP.owns(frames[1])
    caller = caller_of(frames[0])
    assert caller is not None and caller.function == "read_items"
    line = read_items.__code__.co_firstlineno + 1
    assert caller.location.endswith(f"test_appframes.py:{line}")
    assert caller.leaf == "zzdriver Connection.wait"


def test_the_apps_own_package_counts_even_when_installed():
    connection = installed("zzshop", DRIVER)["Connection"]()
    frames = connection.wait(here)
    assert not APP.owns(frames[0])
    assert AppCode(["zzshop.api"]).owns(frames[0])


def test_the_frameworks_and_loadtuis_plumbing_are_not_the_app_but_the_demo_routes_are():
    for module in ("starlette.routing", "fastapi.routing", "loadtui.probe", "json.encoder"):
        frames = installed("x", "def f(look):\n    return look()\n", root="/srv/app")
        frames["__name__"] = module
        frame = frames["f"](here)[0]
        assert frame.f_globals["__name__"] == module and not APP.owns(frame), module
    demo = installed("x", "def f(look):\n    return look()\n", root="/srv/app")
    demo["__name__"] = "loadtui.server.routes"
    assert APP.owns(demo["f"](here)[0])


def seen_in(target, *args) -> object:
    """The app frame a sampler would see in a thread running ``target``."""
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    caller = None
    while caller is None and time.monotonic() < deadline:
        time.sleep(0.01)
        caller = caller_of(sys._current_frames().get(thread.ident or 0))
    thread.join()
    return caller


def hash_password(password: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password, b"salt", 400_000)


def nap() -> None:
    time.sleep(0.3)


def wait_for_news() -> None:
    threading.Event().wait(0.3)


def test_the_leaf_is_the_c_call_or_the_innermost_library_frame():
    assert seen_in(hash_password, b"pw").leaf == "hashlib.pbkdf2_hmac"
    assert seen_in(nap).leaf == "time.sleep"
    assert seen_in(wait_for_news).leaf == "threading Condition.wait"


def test_the_apps_packages_are_read_from_its_routes_mounted_ones_too():
    api, inner = FastAPI(), FastAPI()
    inner.get("/x")(installed("zzadmin", "def page():\n    return 1\n")["page"])
    api.mount("/admin", inner)
    api.get("/y")(nap)
    assert {"zzadmin", "tests"} <= packages_of(api.router.routes)
