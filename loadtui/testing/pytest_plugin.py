"""loadtui's pytest plugin, on wherever loadtui is installed (entry point ``pytest11``):
fail a test when a route blocks the event loop, or misses a threshold.

    def test_orders_never_block_the_loop(loadtui_run):
        result = loadtui_run(app="shop.main:app", route="/orders", users=10, duration=5)
        result.assert_no_blocking()
        result.assert_thresholds("p99<300ms", "errors==0")

    @pytest.mark.loadtui(app="shop.main:app", route="/orders", forbid=["event_loop_blocked"])
    def test_orders(): ...

The app is served by uvicorn in a process of its own, instrumented without a change to its code
(see :mod:`loadtui.testing.app_runner`). An app that does not import or start, or a route that
answers 404, fails the test saying which.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from loadtui.testing.app_runner import LoadResult

MARKER = "loadtui"
_RUN_DIR = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(app, route, users=10, duration=5, rate=None, forbid=['event_loop_blocked'], "
        "thresholds=[], allow_no_success=False): load the app's route with loadtui as the test "
        "(rate: an open loop, req/s or stages such as '10:200@30s'); "
        "fail on a forbidden verdict (codes or critical/warning), a breached threshold "
        "('p99<300ms') or a run in which no request succeeded",
    )


def _runner(directory: Path) -> Callable[..., LoadResult]:
    numbers = itertools.count(1)

    def run(app: str, route: str, users: int = 10, duration: float | None = None, **options: Any):
        from loadtui.testing.app_runner import LoadCheckError, run_app

        path = directory / f"loadtui-run-{next(numbers)}.json"
        try:
            return run_app(app, route, run_file=path, users=users, duration=duration, **options)
        except LoadCheckError as exc:
            failure = str(exc)
        pytest.fail(f"loadtui_run: {failure}", pytrace=False)  # outside the except: no chain

    return run


@pytest.fixture
def loadtui_run(tmp_path: Path) -> Callable[..., LoadResult]:
    """``loadtui_run(app="package.module:app", route="/path", users=10, duration=5)``: serve
    the app, load the route, stop the app; the result has the summary, the verdicts, the run
    file's path, ``assert_no_blocking()`` and ``assert_thresholds(...)``."""
    return _runner(tmp_path)


@pytest.fixture(autouse=True)
def _loadtui_marker_dir(request: pytest.FixtureRequest) -> None:
    """Where a marked test's run file goes (its tmp_path), for the call below."""
    if request.node.get_closest_marker(MARKER) is not None:
        request.node.stash[_RUN_DIR] = request.getfixturevalue("tmp_path")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    marker = item.get_closest_marker(MARKER)
    if marker is not None:
        _run_marked(item, marker)
    return (yield)


def _run_marked(item: pytest.Item, marker: pytest.Mark) -> None:
    options = dict(zip(("app", "route"), marker.args, strict=False)) | marker.kwargs
    forbid = list(options.pop("forbid", ["event_loop_blocked"]))
    thresholds = list(options.pop("thresholds", []))
    result = _runner(item.stash[_RUN_DIR])(**options)
    try:
        if "event_loop_blocked" in forbid:
            result.assert_no_blocking()
        result.assert_no_verdicts(*forbid)
        result.assert_thresholds(*thresholds)
    except AssertionError as exc:
        failure = str(exc)
    else:
        return
    pytest.fail(failure, pytrace=False)
