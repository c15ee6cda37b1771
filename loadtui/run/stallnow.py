"""The stall holding the server's event loop now, as the pane's banner shows it.

Two sources speak of it: each look at the server (about four a second: a worker's loop tick older
than the threshold is stalled) and, between looks, a sidecar's news that a stall began or ended
(its long poll). For each worker the newest word wins: news heard after the last look, else that
look.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadtui.probing.samples import ServerSample, Stall


@dataclass(frozen=True)
class StallNow:
    seconds: float | None  # how long it has held the loop so far, when known
    stall: Stall | None  # as its sidecar named it; None when only the loop's silence tells
    pid: int | None = None  # the worker whose loop it is


@dataclass
class _Heard:
    mono: float  # when the probe handed it on
    stall: Stall | None  # the stall going on; None: the loop came free


class LiveStalls:
    """Not thread-safe: the run model calls it under its lock."""

    def __init__(self) -> None:
        self._look_mono = float("-inf")
        self._look: list[ServerSample] = []
        self._heard: dict[int | None, _Heard] = {}

    def look(self, samples: list[ServerSample]) -> None:
        """A look at every worker (taken at ``samples[0].mono``)."""
        if samples:
            self._look_mono, self._look = samples[0].mono, list(samples)

    def hear(self, stalls: list[Stall], mono: float) -> bool:
        """Stalls the probe handed on at ``mono``; True when a worker's loop began or stopped
        being held by one (so that the screen shows it at once)."""
        changed = False
        for stall in stalls:
            heard = self._heard.get(stall.pid)
            going = heard.stall if heard is not None else None
            if stall.ongoing:
                changed |= going is None or going.started_epoch != stall.started_epoch
                self._heard[stall.pid] = _Heard(mono, stall)
            elif going is not None and going.started_epoch == stall.started_epoch:
                self._heard[stall.pid] = _Heard(mono, None)  # the loop came free
                changed = True
        return changed

    def now(self) -> StallNow | None:
        """The longest stall going on in any worker, by the newest word on each."""
        found: list[StallNow] = []
        newer = {pid for pid, heard in self._heard.items() if heard.mono > self._look_mono}
        for pid in newer:
            stall = self._heard[pid].stall
            if stall is not None:
                found.append(StallNow(stall.duration_s, stall, pid))
        for sample in self._look:
            if sample.stalled_now and sample.pid not in newer:
                found.append(StallNow(sample.tick_age_s, sample.stall, sample.pid))
        return max(found, key=lambda s: s.seconds or 0.0, default=None)
