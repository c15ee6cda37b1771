"""What crosses between the parent and an engine process: the engine's configuration on the
way in; its start, its interval snapshots and its end on the way out.

The snapshots are the only measurements that leave the engine; everything the UI, the headless
printer and the run file show of the client side is derived from them.
"""

from __future__ import annotations

import math
import ssl
from dataclasses import dataclass, replace

from loadtui.engine.extract import Extraction
from loadtui.engine.plan import LoadPlan, split
from loadtui.engine.request_spec import Personal, Stage


@dataclass(frozen=True)
class EngineRequest:
    """One named request, as bytes: one payload per data row (or the one request); a request
    naming a user's variables is built per user from ``personal`` instead."""

    name: str
    payloads: tuple[bytes, ...]
    weight: float = 1.0  # 0 for a setup or flow step (never picked by weight)
    expect: frozenset[int] | None = None  # None: any status below 400 is a success
    random_order: bool = False  # rows in random order (else round-robin)
    stage: Stage = "mix"
    extract: tuple[Extraction, ...] = ()
    personal: Personal | None = None

    @property
    def rows(self) -> int:
        return self.personal.rows if self.personal is not None else len(self.payloads)


@dataclass(frozen=True)
class Tls:
    """How to speak TLS to the target (the context itself cannot cross processes)."""

    server_hostname: str
    insecure: bool = False
    cafile: str | None = None

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.cafile)
        context.set_alpn_protocols(["http/1.1"])
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


@dataclass(frozen=True)
class Share:
    """Engine ``index`` of ``count``: in open loop it sends requests index, index + count, ...
    of the one schedule."""

    index: int = 0
    count: int = 1


@dataclass(frozen=True)
class EngineConfig:
    host: str
    port: int
    requests: tuple[EngineRequest, ...]  # a mix is picked by weight; one is just sent
    plan: LoadPlan  # this engine's share of the load: its users, its spawn rate
    tls: Tls | None = None
    interval_s: float = 1.0
    share: Share = Share()
    # One of several engines: say EngineReady, then start at the wall-clock instant the
    # parent sends (``("start", epoch)``), together with the others. Else start at once.
    agreed_start: bool = False
    allow_remote: bool = False  # --allow-remote: ``host`` may be other than loopback
    cookies: bool = False  # each user keeps a cookie jar (a scenario's, unless --no-cookies)

    def split(self, engines: int) -> list[EngineConfig]:
        """Each of ``engines`` engines' configuration: its users and spawn rate (``split``), its
        share of the schedule. One engine gets this configuration unchanged."""
        if engines == 1:
            return [self]
        plan = self.plan
        return [
            replace(
                self,
                requests=self._rows_of(Share(k, engines)),
                plan=replace(plan, users=users, spawn_rate=plan.spawn_rate * users / plan.users),
                share=Share(k, engines),
                agreed_start=True,
            )
            for k, users in enumerate(split(plan.users, engines))
        ]

    def _rows_of(self, share: Share) -> tuple[EngineRequest, ...]:
        """Open loop, one request with its rows in round-robin order: request i of the one
        schedule takes row i mod rows, whichever engine sends it, so that the rows go out in the
        same order whatever the number of engines. An engine sends requests index, index +
        count, ...: it gets those rows, in that order (they repeat after rows / gcd(rows,
        count)), and takes them round-robin as one engine takes all of them. Closed loop, a mix
        and random order: every engine gets every row."""
        requests = self.requests
        if self.plan.mode != "open" or len(requests) != 1 or requests[0].random_order:
            return requests
        (request,) = requests
        rows = request.payloads
        cycle = len(rows) // math.gcd(len(rows), share.count)
        ours = tuple(rows[(share.index + turn * share.count) % len(rows)] for turn in range(cycle))
        return (replace(request, payloads=ours),)


@dataclass(frozen=True)
class EngineReady:
    """Set up and waiting for its start instant (``agreed_start``)."""


@dataclass(frozen=True)
class EngineInfo:
    """Where one engine runs (the parent's record of it, for the run file)."""

    index: int  # 0-based; shown 1-based ("engine 2 of 4")
    host: str  # the machine's name
    users: int = 0  # its share of the users at the start
    pid: int | None = None  # the engine process
    node: str | None = None  # the Ray node, when on a cluster
    clock_offset_s: float = 0.0  # its wall clock minus this machine's (0 on this machine)


@dataclass(frozen=True)
class EngineStarted:
    started_mono: float
    started_epoch: float


@dataclass(frozen=True)
class StreamInterval:
    """The streaming responses (SSE, chunked) that ended in one interval, and the gaps between
    their pieces seen in it (of streams still going on too). Histograms in microseconds."""

    streams: int  # ended (completed, failed or timed out) in the interval
    events: int  # SSE events those streams carried
    chunks: int  # HTTP chunks with data they carried
    gap_hdr: str | None  # the time between two pieces of one stream; None: no gap seen
    first_piece_hdr: str | None  # from the request's start to its body's first piece
    duration_hdr: str | None  # from the response's first byte to its end


@dataclass(frozen=True)
class NameInterval:
    """One named request of a mix over one interval."""

    requests: int
    errors: dict[str, int]
    latency_hdr: str
    first_byte_hdr: str | None = None  # microseconds to the response's first byte
    stream: StreamInterval | None = None  # None: no stream seen


@dataclass(frozen=True)
class IntervalSnapshot:
    """What the engine measured over one interval (normally one second)."""

    index: int  # 1-based
    started_mono: float
    ended_mono: float
    requests: int  # completed, failed ones included (each has a latency)
    errors: dict[str, int]  # kind -> count: refused, timeout, disconnect, http_500, ...
    latency_hdr: str  # microseconds; open loop: from the intended send time
    users: int  # closed: users running; open: connections busy at the end
    in_flight: int  # requests sent and not answered yet, at the end of the interval
    loop_lag_ms: float  # the engine's own event-loop lag, worst in the interval
    cpu_percent: float  # the engine process, % of one core
    uncorrected_hdr: str | None = None  # open loop: from the actual send time
    send_lag_hdr: str | None = None  # open loop: actual minus intended send time
    unsent: int = 0  # open loop: requests due but not sent yet (all connections busy)
    intended: int | None = None  # open loop: the requests due in the interval (sent or not)
    last_response_mono: float | None = None  # when this interval's last request completed
    rss_bytes: int = 0  # the engine process's resident memory
    open_fds: int = 0  # ... its open file descriptors (sockets included)
    tasks: int = 0  # ... and its asyncio tasks
    by_name: dict[str, NameInterval] | None = None  # a mix of named requests: each one's share
    # how long the oldest of the requests in flight at the end had been waiting for its answer
    # (since it was sent, connecting included); None: none was in flight
    oldest_in_flight_s: float | None = None
    # microseconds to each response's first byte, from the start latency counts from (open
    # loop: the intended send time; ``first_byte_uncorrected_hdr`` from the actual one); None:
    # no response began in the interval
    first_byte_hdr: str | None = None
    first_byte_uncorrected_hdr: str | None = None
    stream: StreamInterval | None = None  # None: no stream seen in the interval
    # a scenario with [[setup]]: the users (open loop: connections) not through it at the end
    setup_pending: int = 0

    @property
    def seconds(self) -> float:
        return max(1e-9, self.ended_mono - self.started_mono)


@dataclass(frozen=True)
class EngineFinished:
    reason: str  # "duration", "stopped" or "parent_gone"


@dataclass(frozen=True)
class EngineFailed:
    message: str


EngineMessage = EngineReady | EngineStarted | IntervalSnapshot | EngineFinished | EngineFailed
