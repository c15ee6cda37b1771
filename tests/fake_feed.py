"""A deterministic feed for TUI tests: runs whose run models are filled with canned
engine snapshots and server samples, the same every time, with no process or socket.

It stands in for LiveRun only where a test is about the screen (snapshots, key bindings);
every measurement test runs the real engine against a real server.
"""

from __future__ import annotations

from loadtui.engine import hdr
from loadtui.engine.messages import EngineStarted, IntervalSnapshot
from loadtui.probing.samples import ServerSample, Stall
from loadtui.run.model import RunModel
from loadtui.run.spec import RunSpec
from loadtui.server.variants import find_variant
from loadtui.targets.target import Target
from loadtui.tui.widgets.runs import RunEvents

SECONDS = 12
T0 = 1000.0
EPOCH = 1_795_000_000.0
# route 4's stalls, named as the demo server's sidecar names them
BLAME = {"location": "loadtui/server/routes.py:31", "leaf": "time.sleep"}
ENDED = Stall("2026-11-23T10:00:02+00:00", EPOCH + 2, 2.4, False, "sync_inner_function", **BLAME)
ONGOING = Stall("2026-11-23T10:00:06+00:00", EPOCH + 6, 3.1, True, "sync_inner_function", **BLAME)


def _histogram(values_ms: list[float]) -> str:
    histogram = hdr.new_histogram()
    for value in values_ms:
        hdr.record_us(histogram, int(value * 1000))
    return hdr.encode(histogram)


def _profile(key: str) -> dict:
    """What each kind of route looks like, roughly as the real ones do."""
    if key == "4":
        return {"rps": 5, "latency": [210, 900, 2400, 4800, 7300], "stalled": True, "pool": 0}
    if key in ("1", "3"):
        return {"rps": 4, "latency": [230, 1200, 8800, 9100], "stalled": False, "pool": 40}
    if key == "7":
        return {"rps": 80, "latency": [201, 202, 204, 230], "stalled": False, "pool": 40}
    return {"rps": 80, "latency": [200, 201, 202, 205, 240], "stalled": False, "pool": 0}


class FakeRun:
    def __init__(self, spec: RunSpec, listener: RunEvents) -> None:
        self.spec = spec
        self.error: str | None = None
        self._listener = listener
        self._ended = False
        variant = find_variant(spec.route)
        target = Target(
            url="http://127.0.0.1:8000",
            host="127.0.0.1",
            port=8000,
            route=spec.path(),
            spawned=True,
        )
        self._model = RunModel(
            target=target,
            plan=spec.plan,
            variant_key=variant.key if variant else None,
            variant_pattern=variant.pattern if variant else None,
            run_id=f"fake-{spec.route}-{spec.plan.users}",
        )
        self._key = variant.key if variant else "0"

    @property
    def model(self) -> RunModel:
        return self._model

    @property
    def ended(self) -> bool:
        return self._ended

    def start(self) -> None:
        model, profile = self._model, _profile(self._key)
        model.add_engine_message(EngineStarted(T0, EPOCH))
        users = self.spec.plan.users
        for second in range(1, SECONDS + 1):
            rps = profile["rps"] * min(1.0, second / 2) * users / 40
            values = profile["latency"] * max(1, int(rps) // len(profile["latency"]))
            model.add_engine_message(
                IntervalSnapshot(
                    index=second,
                    started_mono=T0 + second - 1,
                    ended_mono=T0 + second,
                    requests=len(values),
                    errors={},
                    latency_hdr=_histogram(values),
                    users=users,
                    in_flight=users // 2,
                    loop_lag_ms=1.5,
                    cpu_percent=3.0,
                    last_response_mono=T0 + second - 0.1,
                )
            )
            for quarter in range(4):
                model.add_server_look([self._sample(T0 + second - 1 + quarter / 4, second)])
        model.set_signals(["metrics sidecar", "heartbeat", "process stats"], [])
        if profile["stalled"]:
            model.add_stalls([ENDED, ONGOING])
        self._listener("started", self)

    def _sample(self, mono: float, second: int) -> ServerSample:
        profile = _profile(self._key)
        pool = profile["pool"]
        stalled = profile["stalled"] and second > 6
        return ServerSample(
            mono=mono,
            threadpool_capacity=40,
            threadpool_busy=pool,
            threadpool_waiting=second * 20 if pool else 0,
            background_pending={"sync": second * 30 if pool else 0, "async": 0, "async_blocking": 0}
            if self._key in ("1", "3", "7")
            else {"sync": 0, "async": second * 40, "async_blocking": 0},
            background_running={"sync": pool, "async": 0, "async_blocking": 0},
            background_completed={"sync": 0, "async": 0, "async_blocking": 0},
            requests_in_flight=4,
            tick_age_s=3.1 if stalled else 0.01,
            loop_lag_s=2.4 if profile["stalled"] else 0.002,
            heartbeat_ms=None if stalled else 2.0,
            heartbeat_ok=not stalled,
            cpu_percent=12.5,
            rss_bytes=71_000_000,
            stalled_now=stalled,
            stall=ONGOING if stalled else None,
        )

    def stop(self) -> None:
        if not self._ended:
            self._ended = True
            self._model.finish("finished")
            self._listener("ended", self)

    def join(self, timeout: float) -> None:
        pass
