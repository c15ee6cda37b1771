"""News of the event loop's stalls, for the sidecar's long poll ``GET /stalls/wait?after=N``.

The watchdog publishes each stall as it begins and again as it ends, numbered in order; a probe
that asks with the number it heard last is answered as soon as there is a newer one (the sidecar
parks its request meanwhile: :class:`loadtui.server.sidecar.Feed`). Only the last ``MAX_NEWS``
are kept: an answer says whether it holds everything after ``after`` (``complete``), else the
probe reads the whole list from ``/stalls``.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import deque
from collections.abc import Callable
from urllib.parse import parse_qs

MAX_NEWS = 64
_NUMBER = re.compile(r"\d{1,18}")
_JSON = "application/json"

Item = dict[str, object]  # a stall as /stalls lists it


def after_of(query: str) -> int | None:
    """The number (news sequence, or epoch second) the asker heard last; None when it heard
    none (or says nonsense)."""
    values = parse_qs(query[:200]).get("after", [])
    if len(values) != 1 or not _NUMBER.fullmatch(values[0]):
        return None
    return int(values[0])


class StallNews:
    """Published to from the watchdog thread, read by the sidecar's threads."""

    def __init__(self, max_news: int = MAX_NEWS) -> None:
        self._lock = threading.Lock()
        self._news: deque[tuple[int, Item]] = deque(maxlen=max_news)
        self._seq = 0
        self.on_news: Callable[[], None] | None = None  # the sidecar's wake-up

    def publish(self, item: Item) -> None:
        """A stall began or ended: ``item`` as /stalls lists it, now."""
        with self._lock:
            self._seq += 1
            self._news.append((self._seq, item))
        wake = self.on_news
        if wake is not None:
            wake()

    # ---- the sidecar's Feed ----------------------------------------------------------
    def ready(self, query: str) -> bool:
        """Whether there is something to say to this asker now (else its request waits)."""
        after = after_of(query)
        with self._lock:
            return after != self._seq

    def answer(self, query: str) -> tuple[bytes, str]:
        """Every stall that began or ended after ``after``, each once, in its newest state."""
        after = after_of(query)
        start = 0 if after is None else after
        with self._lock:
            seq, news = self._seq, list(self._news)
        fresh = [(number, item) for number, item in news if number > start]
        complete = start <= seq and (not news or news[0][0] <= start + 1)
        newest: dict[object, Item] = {}
        for _number, item in fresh if start <= seq else news:
            newest[item.get("started_at_epoch")] = item
        body = {"pid": os.getpid(), "seq": seq, "complete": complete, "stalls": [*newest.values()]}
        return json.dumps(body).encode(), _JSON
