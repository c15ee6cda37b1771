"""loadtui.run.stallnow: the stall the pane's banner shows is the newest word on each worker's
loop, a look at it or its sidecar's news heard since; the screen is told only when a stall begins
or ends. Milliseconds, no process or socket."""

from __future__ import annotations

from dataclasses import replace

from loadtui.probing.samples import ServerSample, Stall
from loadtui.run.stallnow import LiveStalls

BLOCKED = Stall("", 1000.0, 0.1, True, "read_items", "app/items.py:62", pid=7, leaf="time.sleep")
FREED = replace(BLOCKED, ongoing=False, duration_s=1.5)


def look(mono: float, stalled: bool, pid: int = 7, **more: object) -> list[ServerSample]:
    return [ServerSample(mono=mono, pid=pid, stalled_now=stalled, tick_age_s=0.3, **more)]  # type: ignore[arg-type]


def test_news_between_looks_is_shown_until_a_newer_look():
    live = LiveStalls()
    live.look(look(10.0, stalled=False))
    assert live.now() is None
    assert live.hear([BLOCKED], 10.1) is True  # began: tell the screen
    now = live.now()
    assert now is not None and (now.stall, now.seconds, now.pid) == (BLOCKED, 0.1, 7)
    # a look taken before the news was heard does not undo it
    live.look(look(10.05, stalled=False))
    assert live.now() is not None and live.now().stall == BLOCKED
    # the same stall heard again, longer: nothing begins or ends
    assert live.hear([replace(BLOCKED, duration_s=0.4)], 10.4) is False
    assert live.now().seconds == 0.4
    assert live.hear([FREED], 10.5) is True  # ended: tell the screen
    assert live.now() is None
    # a newer look speaks for the loop again
    live.look(look(10.6, stalled=True, stall=BLOCKED))
    assert live.now().stall == BLOCKED and live.now().seconds == 0.3


def test_older_stalls_ending_do_not_free_the_loop():
    live = LiveStalls()
    live.look(look(10.0, stalled=True))  # stalled, the culprit not named yet
    assert live.hear([replace(FREED, started_epoch=990.0)], 10.1) is False
    now = live.now()
    assert now is not None and now.stall is None and now.seconds == 0.3


def test_the_longest_stall_of_several_workers_is_shown():
    live = LiveStalls()
    live.look(look(10.0, stalled=True, pid=8, stall=replace(BLOCKED, pid=8)))
    live.hear([replace(BLOCKED, duration_s=2.0)], 10.1)  # worker 7, heard after the look
    assert live.now().pid == 7
    live.hear([FREED], 10.2)
    assert live.now().pid == 8  # worker 8's look still stands
