"""loadtui.testing.pytest_plugin, loadtui.testing.app_runner and loadtui.targets.serve_app: the
pytest plugin on real apps: the demo app (route 4 blocks its loop in sync_inner_function, route 5
does not), small apps written here, every way an app can fail to be loaded (a pytest failure that
says which, never a hang), and a real `pytest` run in a subprocess over a test file that uses the
plugin as a user would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from loadtui.run import runfile
from loadtui.server.instrumentation import Instrumentation
from loadtui.server.variants import find_variant
from loadtui.targets import serve_app
from loadtui.testing.app_runner import LoadResult
from tests import apps
from tests.helpers import LOAD

DEMO = "loadtui.server.app:create_app"  # a factory, as uvicorn takes it
Failed = pytest.fail.Exception

SHOP = """
import asyncio
import time

from fastapi import FastAPI

app = FastAPI()


def lookup_price() -> float:
    time.sleep(0.3)  # a blocking call in an async route: the bug to catch
    return 9.5


@app.get("/price")
async def price() -> dict:
    return {"price": lookup_price()}


@app.get("/fast")
async def fast() -> dict:
    await asyncio.sleep(0.01)
    print("served /fast")  # an app that prints: stdout must never fill up
    return {"ok": True}
"""


def write_module(directory: Path, name: str, source: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.py").write_text(textwrap.dedent(source))


def demo_path(key: str) -> str:
    variant = find_variant(key)
    assert variant is not None
    return variant.path


# ---- the demo app ---------------------------------------------------------------------------
@pytest.mark.e2e
def test_route_4_fails_naming_sync_inner_function(loadtui_run: Callable[..., LoadResult]):
    result = loadtui_run(app=DEMO, route=demo_path("4"), users=5, duration=3)
    assert result.requests > 0 and result.errors == 0
    with pytest.raises(AssertionError) as caught:
        result.assert_no_blocking()
    message = str(caught.value)
    assert "sync_inner_function at " in message and "routes.py:" in message, message
    assert " stalls, the longest " in message and str(result.path) in message
    assert runfile.load(result.path).verdicts[0].code == "event_loop_blocked"
    with pytest.raises(AssertionError, match=r"p99<100ms breached: p99 \d"):
        result.assert_thresholds("errors==0", "p99<100ms")


@pytest.mark.e2e
@LOAD
def test_route_5_passes(loadtui_run: Callable[..., LoadResult]):
    result = loadtui_run(app=DEMO, route=demo_path("5"), users=5, duration=3)
    result.assert_no_blocking()
    result.assert_thresholds("errors==0", "p50<1s", "rps>1")
    latency = result.latency_ms
    assert latency.p50 is not None and 195 <= latency.p50 < 1000  # the route's 0.2 s await
    assert result.path.is_file() and result.document.target.spawned


@pytest.mark.e2e
@LOAD
def test_a_full_pool_fails_naming_who_holds_it(loadtui_run: Callable[..., LoadResult]):
    result = loadtui_run(app=DEMO, route=demo_path("1"), users=60, duration=5)
    with pytest.raises(AssertionError) as caught:
        result.assert_pool_not_saturated()
    message = str(caught.value)
    assert "sync_background_task (loadtui/server/routes.py:" in message, message
    assert "a background task" in message and "an executor of their own" in message
    loadtui_run(app=DEMO, route=demo_path("5"), users=5, duration=2).assert_pool_not_saturated()


# ---- apps written here ----------------------------------------------------------------------
@pytest.mark.e2e
def test_a_small_app_is_found_from_the_directory_pytest_runs_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loadtui_run: Callable[..., LoadResult]
):
    write_module(tmp_path, "shop_app", SHOP)
    monkeypatch.chdir(tmp_path)
    blocking = loadtui_run(app="shop_app:app", route="/price", users=4, duration=2)
    with pytest.raises(
        AssertionError, match=r"lookup_price at shop_app\.py:\d+ → time\.sleep: \d+ stalls?, "
    ):
        blocking.assert_no_blocking()
    fast = loadtui_run(app="shop_app:app", route="/fast", users=4, duration=2)
    fast.assert_no_blocking()
    fast.assert_thresholds("errors==0")
    assert fast.path != blocking.path


@pytest.mark.e2e
def test_a_sync_query_inside_async_def_fails_naming_the_route_not_the_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loadtui_run: Callable[..., LoadResult]
):
    write_module(tmp_path, "items_app", apps.SYNC_QUERY_ON_THE_LOOP)
    monkeypatch.chdir(tmp_path)
    result = loadtui_run(app="items_app:app", route="/items", users=3, duration=3)
    with pytest.raises(AssertionError) as caught:
        result.assert_no_blocking()
    message = str(caught.value)
    assert re.search(r"read_items_async_copy at items_app\.py:\d+ → sqlalchemy ", message), message


@pytest.mark.e2e
def test_an_app_is_found_through_the_test_process_sys_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loadtui_run: Callable[..., LoadResult]
):
    write_module(tmp_path / "src" / "shop_pkg", "__init__", "")
    write_module(tmp_path / "src" / "shop_pkg", "main", SHOP)
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    result = loadtui_run(app="shop_pkg.main:app", route="/fast", users=3, duration=2)
    result.assert_no_blocking()


# ---- resolving and instrumenting, in this process ----------------------------------------------
@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], None]:
    """Write modules importable from this process (and forgotten afterwards)."""

    def add(name: str, source: str) -> None:
        write_module(tmp_path, name, source)
        monkeypatch.delitem(sys.modules, name, raising=False)

    monkeypatch.syspath_prepend(str(tmp_path))
    return add


def middleware_count(app: object) -> int:
    return sum(1 for m in app.user_middleware if "Instrument" in m.cls.__name__)  # type: ignore[attr-defined]


def test_an_app_is_instrumented_once_whether_or_not_it_does_it_itself(modules):
    modules("plain_app", "from fastapi import FastAPI\napp = FastAPI()\n")
    modules(
        "self_instrumented",
        "from fastapi import FastAPI\nfrom loadtui import instrument\n"
        "app = FastAPI()\nins = instrument(app, metrics_port=0)\n",
    )
    plain = serve_app.load("plain_app:app")
    assert isinstance(plain.state.loadtui, Instrumentation) and middleware_count(plain) == 1
    own = serve_app.load("self_instrumented:app")
    assert middleware_count(own) == 1
    assert own.state.loadtui is sys.modules["self_instrumented"].ins


@pytest.mark.parametrize(
    ("source", "import_string", "words"),
    [
        ("", "no_such_module:app", 'cannot import no_such_module:app: Could not import module "no'),
        ("x = 1\n", "{name}:app", 'Attribute "app" not found in module'),
        ("x = 1\n", "{name}", 'must be in format "<module>:<attribute>"'),
        ("import not_installed_pkg\n", "{name}:app", "ModuleNotFoundError: No module named 'not_"),
        ("raise RuntimeError('config missing')\n", "{name}:app", "RuntimeError: config missing"),
        ("def make():\n    raise OSError('no db')\n", "{name}:make", "the factory"),
        ("app = object()\n", "{name}:app", "not a FastAPI or Starlette app"),
    ],
)
def test_an_app_that_cannot_be_loaded_says_why_in_one_line(modules, source, import_string, words):
    modules("broken_app", source)
    with pytest.raises(serve_app.AppError) as caught:
        serve_app.load(import_string.format(name="broken_app"))
    assert words in str(caught.value) and "\n" not in str(caught.value)


# ---- failures through the fixture: which, never a hang ------------------------------------------
def fails(call: Callable[[], object]) -> str:
    with pytest.raises(Failed) as caught:
        call()
    return str(caught.value)


@pytest.mark.e2e
def test_an_import_that_does_not_resolve_is_a_failure_saying_so(loadtui_run):
    message = fails(lambda: loadtui_run(app="no_such_shop:app", route="/", duration=1))
    assert message.startswith("loadtui_run: app no_such_shop:app exited during start (code 2): ")
    assert message.endswith(
        'cannot import no_such_shop:app: Could not import module "no_such_shop".'
    )


@pytest.mark.e2e
def test_an_app_whose_startup_fails_is_a_failure_naming_the_error(
    tmp_path, monkeypatch, loadtui_run
):
    write_module(
        tmp_path,
        "bad_start",
        """
        from contextlib import asynccontextmanager
        from fastapi import FastAPI

        @asynccontextmanager
        async def lifespan(app):
            raise RuntimeError("database unreachable")
            yield

        app = FastAPI(lifespan=lifespan)
        """,
    )
    monkeypatch.chdir(tmp_path)
    message = fails(lambda: loadtui_run(app="bad_start:app", route="/", duration=1))
    assert "app bad_start:app exited during start" in message
    assert message.endswith("the app did not start: RuntimeError: database unreachable")


@pytest.mark.e2e
def test_an_app_that_never_starts_fails_within_its_start_timeout(
    tmp_path, monkeypatch, loadtui_run
):
    write_module(tmp_path, "hangs", "import time\ntime.sleep(600)\n")
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    message = fails(lambda: loadtui_run(app="hangs:app", route="/", start_timeout=2))
    assert "app hangs:app did not become ready within 2 s" in message
    assert time.monotonic() - started < 15


@pytest.mark.e2e
def test_a_route_that_404s_is_a_failure_naming_it(tmp_path, monkeypatch, loadtui_run):
    write_module(tmp_path, "shop_404", SHOP)
    monkeypatch.chdir(tmp_path)
    message = fails(lambda: loadtui_run(app="shop_404:app", route="/nowhere", users=2, duration=1))
    assert message.startswith("loadtui_run: GET /nowhere answered 404 Not Found to all ")
    assert message.endswith("requests: shop_404:app has no such route")


@pytest.mark.e2e
def test_request_options_send_a_post_with_headers_and_a_body(tmp_path, monkeypatch, loadtui_run):
    write_module(tmp_path, "orders_app", apps.SHOP)  # POST /orders behind a bearer token
    monkeypatch.chdir(tmp_path)
    result = loadtui_run(
        app="orders_app:app",
        route="/orders",
        users=3,
        duration=2,
        headers={"Authorization": "Bearer s3cret"},
        json={"item": "tea", "qty": 1},
        expect=[201],
    )
    assert result.requests > 0 and result.errors == 0
    result.assert_no_blocking()


@pytest.mark.e2e
def test_a_route_whose_every_request_fails_fails_every_assertion_saying_why(
    tmp_path, monkeypatch, loadtui_run
):
    write_module(tmp_path, "orders_401", apps.SHOP)  # POST /orders wants a bearer token
    monkeypatch.chdir(tmp_path)
    result = loadtui_run(
        app="orders_401:app", route="/orders", users=2, duration=2, json={"item": "tea", "qty": 1}
    )
    requests = result.requests
    assert requests > 0 and result.summary.errors_by_kind == {"http_401": requests}
    why = rf"^no request succeeded: {requests} of {requests} answered 401, loading .*/orders "
    for check in (
        result.assert_no_blocking,
        lambda: result.assert_thresholds("p99<10s"),
        lambda: result.assert_no_verdicts("critical"),
    ):
        with pytest.raises(AssertionError, match=why):
            check()
    allowed = replace(result, allow_no_success=True)  # loadtui_run(..., allow_no_success=True)
    allowed.assert_no_blocking()
    allowed.assert_thresholds("p99<10s")


# An app that writes down every request it receives (in the directory it is served from).
TALLY = """
from pathlib import Path

from fastapi import FastAPI

app = FastAPI()
TALLY = Path("tally.log").resolve()


@app.get("/hit")
async def hit() -> dict:
    with TALLY.open("a") as tally:
        tally.write("hit\\n")
    return {"ok": True}
"""


@pytest.mark.e2e
def test_a_rate_loads_the_app_in_an_open_loop_as_the_command_line_does(
    tmp_path, monkeypatch, loadtui_run
):
    write_module(tmp_path, "tally_app", TALLY)
    monkeypatch.chdir(tmp_path)
    result = loadtui_run(app="tally_app:app", route="/hit", users=5, rate="10:30@2s")
    doc = result.document
    assert doc.load.mode == "open" and doc.load.stages_text == "10:30@2s", doc.load
    assert doc.load.duration_s == 2.0 and doc.load.rate == 30.0
    assert sum(e.intended or 0 for e in doc.timeline) == 40  # 10 -> 30 req/s over 2 s
    # what the app received against what loadtui recorded: each request sent once, all 40 of
    # the schedule sent or counted as not sent
    received = (tmp_path / "tally.log").read_text().count("hit\n")
    in_flight, unsent = doc.timeline[-1].in_flight, doc.summary.unsent or 0
    assert result.requests <= received <= result.requests + in_flight
    assert result.requests <= 40 <= result.requests + in_flight + unsent
    held = loadtui_run(app="tally_app:app", route="/hit", users=5, rate=20, duration=2)
    assert held.document.load.mode == "open" and held.document.load.rate == 20.0
    assert sum(e.intended or 0 for e in held.document.timeline) == 40
    result.assert_no_blocking()


def test_unknown_request_options_and_bad_arguments_are_refused_before_anything_starts(
    loadtui_run,
):
    takes = "data, expect, headers, json, method"
    with pytest.raises(TypeError, match=f"unknown request option 'colour' \\(it takes: {takes}\\)"):
        loadtui_run(app=DEMO, route="/ping", colour="blue")
    with pytest.raises(ValueError, match="loadtui_run: header name 'Bad Name' is not a valid"):
        loadtui_run(app=DEMO, route="/ping", headers={"Bad Name": "x"})
    with pytest.raises(ValueError, match="give json or data, not both"):
        loadtui_run(app=DEMO, route="/ping", json={}, data="{}")
    with pytest.raises(ValueError, match="route must be a path starting with /"):
        loadtui_run(app=DEMO, route="ping")
    with pytest.raises(ValueError, match="users must be a whole number from 1"):
        loadtui_run(app=DEMO, route="/ping", users=0)
    with pytest.raises(ValueError, match="duration must be a number of seconds above 0"):
        loadtui_run(app=DEMO, route="/ping", duration=float("nan"))
    with pytest.raises(ValueError, match="start_timeout must be a number of seconds above 0"):
        loadtui_run(app=DEMO, route="/ping", start_timeout=0)
    with pytest.raises(ValueError, match=r"think must be \(least, most\) seconds"):
        loadtui_run(app=DEMO, route="/ping", think=(0.5, 0.1))
    with pytest.raises(ValueError, match="allow_no_success must be True or False, not 'yes'"):
        loadtui_run(app=DEMO, route="/ping", allow_no_success="yes")
    for rate in (0, -5, True, float("inf"), 1e9, "fast", [10]):
        with pytest.raises(ValueError, match="loadtui_run: rate must be requests per second"):
            loadtui_run(app=DEMO, route="/ping", rate=rate)
    with pytest.raises(ValueError, match="loadtui_run: rate '10@0s': a stage lasts more than 0"):
        loadtui_run(app=DEMO, route="/ping", rate="10@0s")
    with pytest.raises(ValueError, match="loadtui_run: duration 5 s: the rate's stages last 2 s"):
        loadtui_run(app=DEMO, route="/ping", rate="10:30@2s", duration=5)


# ---- the README's test file, run by a real pytest --------------------------------------------
README = Path(__file__).parents[2] / "README.md"
SHOP_PACKAGE = """
import asyncio
import time

from fastapi import FastAPI

app = FastAPI()


def search_index(term: str) -> list[str]:
    time.sleep(0.3)  # blocks the loop: the bug the README's test catches
    return [term]


@app.get("/orders")
async def orders() -> list[int]:
    await asyncio.sleep(0.01)
    return [1, 2, 3]


@app.get("/search")
async def search() -> list[str]:
    return search_index("x")
"""


def readme_test_file() -> str:
    section = README.read_text().split("## Catch blocking calls in CI", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.e2e
@LOAD
def test_a_real_pytest_run_over_the_readme_test_file(tmp_path: Path):
    write_module(tmp_path / "shop", "__init__", "")
    write_module(tmp_path / "shop", "main", SHOP_PACKAGE)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_no_blocking.py").write_text(readme_test_file())
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests/test_no_blocking.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "1 failed, 1 passed" in out, out
    assert "FAILED tests/test_no_blocking.py::test_search - Failed: the event loop was" in out
    failure = out[out.index("_ test_search _") : out.index("short test summary")]
    assert (
        "the event loop was blocked while loading GET /search on shop.main:app (run file "
        in failure
    )
    line = next(n for n, text in enumerate(SHOP_PACKAGE.splitlines(), 1) if "sleep" in text)
    where = re.escape(f"search_index at shop/main.py:{line} → time.sleep: ")
    assert re.search(where + r"\d+ stalls?, the longest \d", failure), failure
