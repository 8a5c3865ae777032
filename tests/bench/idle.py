"""N idle SSE streams held open by one server process: memory per stream, heartbeat lateness.

Each stream is its own stateless run of the ``slow`` graph (a node that
sleeps for an hour without emitting anything), so the stream carries nothing
but ``: heartbeat`` comments: runs beyond the concurrency limit wait pending,
the first ``max_concurrency`` sleep. That is the realistic idle stream: a
user waiting on a run, not N readers of one log.

The client side is one asyncio protocol per socket that only timestamps the
response head and every heartbeat, so one bench process can hold thousands.
Lateness of heartbeat k is ``(t_k - t_{k-1}) - heartbeat_s`` with ``t_0`` the
arrival of the response head (the server's ping timer starts with the
response). The target is judged on the intervals that lie wholly in the
hold window, when all N streams are open and idle; intervals that overlap
the opening phase (the server busy creating thousands of runs) are
reported separately.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import cast

import orjson

from tests.bench.procs import ServerProcess
from tests.bench.stats import percentile

__all__ = ["IdleResult", "hold_idle_streams"]

_MARK = b": heartbeat"


class _IdleStream(asyncio.Protocol):
    def __init__(self, request: bytes) -> None:
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.t_head: float | None = None
        self.beats: list[float] = []
        self.tail = b""
        self.status = 0
        self.closed = False
        self.head_seen: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if self.t_head is None:
            self.t_head = now
            if data.startswith(b"HTTP/1.1 "):
                self.status = int(data[9:12])
            if not self.head_seen.done():
                self.head_seen.set_result(None)
        # A heartbeat split across two reads is found in tail + data.
        window = self.tail + data
        self.beats.extend([now] * window.count(_MARK))
        self.tail = data[-(len(_MARK) - 1) :]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.head_seen.done():
            self.head_seen.set_exception(ConnectionError("closed before the response head"))


@dataclass
class IdleResult:
    streams: int
    opened: int
    open_s: float
    hold_s: float
    rss_before_kb: int
    rss_after_kb: int
    cpu_hold_s: float
    lateness_s: list[float] = field(default_factory=list)  # hold window only
    opening_lateness_s: list[float] = field(default_factory=list)  # overlapping the opening
    with_heartbeat: int = 0
    dropped: int = 0

    @property
    def kb_per_stream(self) -> float:
        return (self.rss_after_kb - self.rss_before_kb) / max(self.opened, 1)

    @property
    def lateness_p99_ms(self) -> float:
        return percentile(self.lateness_s, 99) * 1000 if self.lateness_s else float("nan")

    @property
    def lateness_p50_ms(self) -> float:
        return percentile(self.lateness_s, 50) * 1000 if self.lateness_s else float("nan")

    @property
    def opening_p99_ms(self) -> float:
        values = self.opening_lateness_s
        return percentile(values, 99) * 1000 if values else float("nan")


async def hold_idle_streams(
    server: ServerProcess,
    *,
    streams: int,
    heartbeat_s: float,
    beats: int = 2,
    batch: int = 200,
    request: bytes | None = None,
) -> IdleResult:
    """Open ``streams`` idle streams, hold them for ``beats`` heartbeats, measure, close.

    ``request`` replaces the default (a new silent run per stream) with any
    raw HTTP request that opens an SSE stream, e.g. a join of one run.
    """
    if request is None:
        body = orjson.dumps(
            {"assistant_id": "slow", "input": {"sleep_s": 3600}, "on_disconnect": "cancel"}
        )
        request = (
            f"POST /runs/stream HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
            f"Content-Type: application/json\r\nAccept: text/event-stream\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
    raw_request = request
    loop = asyncio.get_running_loop()
    await asyncio.sleep(1.0)
    rss_before = server.rss_kb()
    protocols: list[_IdleStream] = []

    async def open_one() -> None:
        _, protocol = await loop.create_connection(
            lambda: _IdleStream(raw_request), server.host, server.port
        )
        protocols.append(protocol)
        await asyncio.wait_for(protocol.head_seen, 60)

    started = time.perf_counter()
    try:
        for first in range(0, streams, batch):
            count = min(batch, streams - first)
            await asyncio.gather(*(open_one() for _ in range(count)), return_exceptions=True)
        open_s = time.perf_counter() - started
        opened = sum(1 for p in protocols if p.status == 200 and not p.closed)
        # Hold until the last stream opened has had ``beats`` heartbeats due.
        cpu_start = server.cpu_s()
        hold_start = time.perf_counter()
        await asyncio.sleep(beats * heartbeat_s + 1.0)
        hold_s = time.perf_counter() - hold_start
        cpu_hold = server.cpu_s() - cpu_start
        rss_after = server.rss_kb()
        dropped = sum(1 for p in protocols if p.closed)
    finally:
        for protocol in protocols:
            if protocol.transport is not None:
                protocol.transport.close()
    lateness: list[float] = []
    opening: list[float] = []
    with_beat = 0
    for protocol in protocols:
        if protocol.t_head is None:
            continue
        times = [protocol.t_head, *protocol.beats]
        with_beat += bool(protocol.beats)
        for a, b in itertools.pairwise(times):
            (lateness if a >= hold_start else opening).append(b - a - heartbeat_s)
    return IdleResult(
        streams=streams,
        opened=opened,
        open_s=open_s,
        hold_s=hold_s,
        rss_before_kb=rss_before,
        rss_after_kb=rss_after,
        cpu_hold_s=cpu_hold,
        lateness_s=lateness,
        opening_lateness_s=opening,
        with_heartbeat=with_beat,
        dropped=dropped,
    )
