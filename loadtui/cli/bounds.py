"""The bounds of every number a command line may give: beyond them a run is to no purpose
(shorter than one interval, more users than descriptors allow, a rate no engine sends), and
the checkers argparse calls with each value (``type=``): a value beyond them is one line naming
its option, exit 2."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from loadtui.engine import schedule
from loadtui.engine.plan import MAX_DURATION_S, MAX_RATE, MIN_DURATION_S, check_stages
from loadtui.engine.schedule import Stage

MAX_USERS = 100_000
MAX_SPAWN_RATE = 10_000.0  # users started per second
MIN_TIMEOUT_S = 0.001  # the engine's timers count milliseconds
MAX_SECONDS = 3600.0  # think time, timeout, drain
MAX_THREADS = 10_000
MIN_STEP_S = 2.0  # a capacity step: its first second warms up, one more measures the pace
MAX_STEP_S = 600.0
MAX_ENGINES = 1024  # engine processes (one a core): a cluster of 1,024 cores


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
users = whole(1, MAX_USERS)
threads = whole(1, MAX_THREADS)
duration = number(MIN_DURATION_S, MAX_DURATION_S)
spawn_rate = number(0, MAX_SPAWN_RATE, above=True)
rate = number(0, MAX_RATE, above=True)
seconds = number(0, MAX_SECONDS)
timeout = number(MIN_TIMEOUT_S, MAX_SECONDS)
engine_number = whole(1, MAX_ENGINES)
step_seconds = number(MIN_STEP_S, MAX_STEP_S)
resolution = number(0, 100, above=True)  # a percentage


def rate_stages(text: str) -> float | tuple[Stage, ...]:
    """--rate: one rate (held for --duration), or stages (``10@10s,50:200@60s``) within the
    rate and duration bounds."""
    if not schedule.is_stages(text):
        return rate(text)
    try:
        stages = schedule.parse(text)
        check_stages(stages)
    except schedule.ScheduleError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return stages


def engine_count(text: str) -> int | str:
    """--engines: a whole number, or ``auto``."""
    return "auto" if text.strip().lower() == "auto" else engine_number(text)


def user_list(text: str) -> list[int]:
    return [users(part.strip()) for part in text.split(",") if part.strip()] or [users("")]


def route_list(text: str) -> list[str]:
    routes = [part.strip() for part in text.split(",") if part.strip()]
    if not routes:
        raise argparse.ArgumentTypeError("give at least one route")
    return routes
