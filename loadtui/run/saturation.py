"""A saturated event loop: seconds in a row in which the loop ran code nearly all the time, and
the short stalls inside them that are its queueing lag (a heartbeat late behind many short
steps of the function saturating it), not one call blocking it.

The run model marks those stalls (``StallWindow.saturation_lag``) so that stall counts, the
``stalls`` threshold and the pane's banner leave them out; the verdicts judge the spell itself
(``event_loop_saturated``).
"""

from __future__ import annotations

from collections.abc import Callable

from loadtui.run import holders
from loadtui.run.rundoc import StallWindow, ThreadsSecond

LOOP_SATURATED_SHARE = 0.85  # the loop ran code this share of a second or more ...
LOOP_SATURATED_MIN_SECONDS = 3  # ... this many seconds in a row
SATURATION_LAG_MAX_S = 0.25  # a stall this short in a saturated spell may be its queueing lag


def is_saturated(second: ThreadsSecond) -> bool:
    return second.loop_busy is not None and second.loop_busy >= LOOP_SATURATED_SHARE


def busy_run(seconds: list[ThreadsSecond]) -> list[ThreadsSecond]:
    """The longest run of consecutive seconds whose loop was saturated."""
    best: list[ThreadsSecond] = []
    current: list[ThreadsSecond] = []
    for second in seconds:
        adjacent = current and abs(second.t - current[-1].t - 1.0) < 0.5
        current = ([*current, second] if adjacent else [second]) if is_saturated(second) else []
        best = current if len(current) > len(best) else best
    return best


def lag_judge(seconds: list[ThreadsSecond], started_epoch: float) -> Callable[[StallWindow], bool]:
    """Whether a stall is the lag of a saturated loop: short, within the saturated spell, and
    named after a function that kept the loop busy on CPU in it (a loop held in ``time.sleep``
    is blocked, however short each sleep). Short, not counting the time its thread waited for a
    CPU: on a busy machine a saturated loop's lag stretches with the wait."""
    busy = busy_run(seconds)
    if len(busy) < LOOP_SATURATED_MIN_SECONDS:
        return lambda _window: False
    names = {share.holder.function for share in holders.shares(busy, "loop") if share.on_cpu}
    first, last = busy[0].t - 1.0, busy[-1].t

    def lag(window: StallWindow) -> bool:
        at = window.started_at.timestamp() - started_epoch
        short = window.duration_s * (1.0 - window.runqueue_share) < SATURATION_LAG_MAX_S
        return short and first <= at <= last and window.culprit in names

    return lag


def young_lag(seconds_stalled: float | None, newest: ThreadsSecond | None) -> bool:
    """A stall going on now that may be the lag of the loop saturated as last seen: the pane
    shows no banner for it until it outlasts a lag."""
    return (
        newest is not None
        and is_saturated(newest)
        and (seconds_stalled or 0.0) < SATURATION_LAG_MAX_S
    )
