"""A scenario's ``[load]`` table: the open loop's rate, as ``--rate`` takes it (the command
line's ``--rate`` wins over it).

    [load]
    rate = "10@10s, 50:200@60s"       # or one number: held for --duration

or stage by stage, each held (``rate``) or ramped (``from``, ``to``) over ``duration``:

    [[load.stages]]
    rate = 10
    duration = "10s"                  # ms, s, m or h; a number is seconds

    [[load.stages]]
    from = 50
    to = 200
    duration = "60s"

Bounds are the command line's, checked where ``--rate``'s are (``loadtui.cli``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from loadtui.engine import schedule
from loadtui.engine.request_spec import SpecError
from loadtui.engine.schedule import ScheduleError, Stage

STAGE_KEYS = {"rate", "from", "to", "duration"}


def rate(path: Path) -> float | tuple[Stage, ...] | None:
    """The rate of ``path``'s ``[load]`` table; None when it has none. SpecError (one line,
    naming the file) when it is not one."""
    try:
        document = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"{path}: cannot read: {exc}") from None
    table = document.get("load")
    if table is None:
        return None
    try:
        return _rate(table)
    except ScheduleError as exc:
        raise SpecError(f"{path}: [load] {exc}") from None


def _rate(table: object) -> float | tuple[Stage, ...]:
    if not isinstance(table, dict):
        raise ScheduleError("must be a table: [load] with rate = ..., or [[load.stages]]")
    unknown = set(table) - {"rate", "stages"}
    if unknown:
        raise ScheduleError(f"unknown key {sorted(unknown)[0]!r} (rate, stages)")
    if ("rate" in table) == ("stages" in table):
        raise ScheduleError("give rate = ... or [[load.stages]], one of them")
    if "rate" in table:
        return _given(table["rate"])
    stages = table["stages"]
    if not isinstance(stages, list) or not stages or not all(isinstance(s, dict) for s in stages):
        raise ScheduleError("stages must be [[load.stages]] tables")
    return schedule.parse(",".join(_stage(number, s) for number, s in enumerate(stages, 1)))


def _given(value: object) -> float | tuple[Stage, ...]:
    """rate = 50 or rate = "10:200@60s"."""
    if isinstance(value, str) and schedule.is_stages(value):
        return schedule.parse(value)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ScheduleError(f"rate {value!r} is not a number or stages")
    try:
        return float(value)
    except ValueError:
        raise ScheduleError(f"rate {value!r} is not a number or stages") from None


def _stage(number: int, table: dict[str, Any]) -> str:
    """Stage ``number``'s table as ``--rate`` text (``parse`` checks it)."""
    where = f"stage {number}:"
    unknown = set(table) - STAGE_KEYS
    if unknown:
        raise ScheduleError(
            f"{where} unknown key {sorted(unknown)[0]!r} (rate, from, to, duration)"
        )
    held, ramped = "rate" in table, "from" in table and "to" in table
    if held == ramped or (not ramped and ("from" in table or "to" in table)):
        raise ScheduleError(f"{where} give rate (held) or from and to (ramped)")
    if "duration" not in table:
        raise ScheduleError(f'{where} give its duration ("30s")')
    rates = [table["rate"]] if held else [table["from"], table["to"]]
    for value in [*rates, table["duration"]]:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ScheduleError(f"{where} {value!r} is not a number")
    return ":".join(str(r) for r in rates) + f"@{table['duration']}"
