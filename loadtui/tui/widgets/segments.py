"""Segments as the TUI sees them: something that starts, fills a run model, and stops.

``LiveSegment`` runs a real :class:`~loadtui.run.session.Session` on a thread of its own, so that
spawning servers, starting engines and pumping snapshots never touch the UI's event loop.
The UI only gets callbacks (which it turns into messages) and reads the model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from loadtui.run.model import RunModel
from loadtui.run.session import SegmentSpec, Session

Listener = Callable[[str, "Segment"], None]  # (event, segment); events: started, ended, failed


class Segment(Protocol):
    spec: SegmentSpec
    error: str | None

    @property
    def model(self) -> RunModel | None: ...

    @property
    def ended(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def join(self, timeout: float) -> None: ...


class LiveSegment:
    def __init__(self, spec: SegmentSpec, listener: Listener) -> None:
        self.spec = spec
        self.error: str | None = None
        self._listener = listener
        self._session = Session(spec)
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loadtui-segment", daemon=True)

    @property
    def model(self) -> RunModel | None:
        return self._session.model

    @property
    def ended(self) -> bool:
        return self._done.is_set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the segment to end; it stops its engine and server on its own thread."""
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        session = self._session
        try:
            session.start()
        except Exception as exc:  # SpawnError, TargetError, OSError: shown in the pane
            self.error = str(exc)
            session.close("failed")
            self._done.set()
            self._listener("failed", self)
            return
        self._listener("started", self)
        try:
            while not self._stop.is_set() and session.pump(0.25):
                pass
        finally:
            session.close("finished")
            if session.model is not None and session.model.failure:
                self.error = session.model.failure
            self._done.set()
            self._listener("failed" if self.error else "ended", self)
