"""Who held the server's threads: the stack samplers' seconds, every worker added up, and the
shares the verdicts and the pane name.

A holder is an application function (with its file:line and its leaf); what it holds is counted
in thread-seconds: 31 threads held for 2 s are 62 thread-seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from loadtui.formats import code_at
from loadtui.probing.samples import Holder as SampledHolder
from loadtui.probing.samples import ThreadsLook
from loadtui.run.rundoc import Holder, ThreadsSecond

TOP = 8  # holders kept per group and second
# A holder on CPU (or ready for one) at least this share of its time burns CPU; below, it waits.
# Waiting holders read 0.00-0.05 (time.sleep, a database checkout); CPU work read 0.46-1.0 with
# forty threads on two busy cores (a thread waiting for the GIL counts as waiting).
ON_CPU = 0.25
# A holder found running Python (not in a call) at least this share of its looks wants the CPU
# too, though the kernel sees it asleep while it waits for the GIL: pure-Python work in forty
# threads reads ~0.04 on CPU each. Waiting holders are found in their call (time.sleep, a socket
# read, a lock): 0.00-0.02.
RUNS_PYTHON = 0.3
Group = str  # "loop", "pool", "other"
GROUPS: tuple[Group, ...] = ("loop", "pool", "other")
Key = tuple[str, str, str, str, bool]  # function, location, leaf, waiting_for, background


def _key(holder: SampledHolder | Holder) -> Key:
    h = holder
    return (h.function, h.location, h.leaf, h.waiting_for, h.background)


def _added(holders: Iterable[SampledHolder | Holder]) -> list[Holder]:
    """Holders of the same function added up (threads summed, on-CPU share weighted)."""
    threads: dict[Key, float] = {}
    cpu: dict[Key, float] = {}
    python: dict[Key, float] = {}
    pools: dict[Key, str] = {}
    for h in holders:
        key = _key(h)
        threads[key] = threads.get(key, 0.0) + h.threads
        cpu[key] = cpu.get(key, 0.0) + h.threads * h.on_cpu
        python[key] = python.get(key, 0.0) + h.threads * h.python
        pools[key] = pools.get(key) or h.db_pool
    return [
        Holder(
            function=key[0],
            location=key[1],
            leaf=key[2],
            waiting_for=key[3],
            background=key[4],
            threads=round(total, 3),
            on_cpu=round(min(1.0, cpu[key] / total), 3) if total > 0 else 0.0,
            python=round(min(1.0, python[key] / total), 3) if total > 0 else 0.0,
            db_pool=pools[key],
        )
        for key, total in sorted(threads.items(), key=lambda item: -item[1])
    ]


def combine(looks: Sequence[ThreadsLook], t: float) -> ThreadsSecond:
    """One second of every worker's sampler (``t``: the second's end, from the run's start)."""
    busy = [look.loop_busy for look in looks if look.loop_busy is not None]
    return ThreadsSecond(
        t=round(t, 3),
        loop_busy=max(busy) if busy else None,
        loop=_added(h for look in looks for h in look.loop)[:TOP],
        pool=_added(h for look in looks for h in look.pool)[:TOP],
        other=_added(h for look in looks for h in look.other)[:TOP],
    )


@dataclass(frozen=True)
class Share:
    """A holder over several seconds: its thread-seconds and their share of the group's."""

    holder: Holder  # threads: thread-seconds over those seconds
    share: float  # of every holder's thread-seconds, 0-1

    @property
    def on_cpu(self) -> bool:
        """It burns CPU: on a core, or running Python (a GIL's turn is a core's)."""
        return self.holder.on_cpu >= ON_CPU or self.runs_python

    @property
    def runs_python(self) -> bool:
        """Running Python more than on a core: its threads take turns for the GIL."""
        return self.holder.python >= RUNS_PYTHON and self.holder.on_cpu < ON_CPU


def shares(seconds: Iterable[ThreadsSecond], group: Group) -> list[Share]:
    """The group's holders over ``seconds``, biggest first."""
    added = _added(h for second in seconds for h in getattr(second, group))
    total = sum(h.threads for h in added)
    return [Share(h, h.threads / total) for h in added] if total > 0 else []


def named(holder: Holder) -> str:
    """``hash_password (app/auth.py:12) → hashlib.pbkdf2_hmac``."""
    return code_at(holder.function, holder.location, holder.leaf)


def doing(share: Share) -> str:
    """What the holder's threads were doing, in a few words."""
    holder = share.holder
    if holder.waiting_for:
        pool = f", pool {holder.db_pool}" if holder.db_pool else ""
        return f"waiting for a {holder.waiting_for}{pool}"
    if share.runs_python:
        return "running Python"
    return "on CPU" if share.on_cpu else "waiting"
