"""Runs as the TUI sees them: something that starts, fills a run model, and stops.

``LiveRun`` runs a real :class:`~loadtui.run.runner.Runner` on a thread of its own, so that
spawning servers, starting engines and pumping snapshots never touch the UI's event loop.
The UI only gets callbacks (which it turns into messages) and reads the model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from loadtui.run.model import RunModel
from loadtui.run.spec import RunSpec

# (event, run); events: started, ended, failed, and stall (a stall of its server's loop began
# or ended)
RunEvents = Callable[[str, "PaneRun"], None]


class PaneRun(Protocol):
    spec: RunSpec
    error: str | None

    @property
    def model(self) -> RunModel | None: ...

    @property
    def ended(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def join(self, timeout: float) -> None: ...


class LiveRun:
    def __init__(self, spec: RunSpec, listener: RunEvents) -> None:
        self.spec = spec
        self.error: str | None = None
        self._listener = listener
        from loadtui.run.runner import Runner  # after the first frame: engines, probe, httpx

        self._runner = Runner(spec, on_stall=lambda: listener("stall", self))
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loadtui-run", daemon=True)

    @property
    def model(self) -> RunModel | None:
        return self._runner.model

    @property
    def ended(self) -> bool:
        return self._done.is_set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the run to end; it stops its engine and server on its own thread."""
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        runner = self._runner
        try:
            runner.start()
        except Exception as exc:  # SpawnError, TargetError, OSError: shown in the pane
            self.error = str(exc)
            runner.close("failed")
            self._done.set()
            self._listener("failed", self)
            return
        self._listener("started", self)
        try:
            while not self._stop.is_set() and runner.pump(0.25):
                pass
        finally:
            runner.close("finished")
            if runner.model is not None and runner.model.failure:
                self.error = runner.model.failure
            self._done.set()
            self._listener("failed" if self.error else "ended", self)
