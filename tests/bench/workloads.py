"""The measured workloads: each repeats (in-process, then server) and keeps every figure.

A ``Row`` is one line of the main table. For every repeat the in-process
figure is measured right before the server figure, and the ratio of that
pair is kept, so a slow moment on the machine (the two cores are shared
with the load generator and anything else running) hits both sides of
one ratio rather than one side of the median.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from tests.bench.httpload import LoadResult, Response, connect, run_load
from tests.bench.inprocess import (
    STEPS_INPUT,
    InprocResult,
    abatch_items_per_s,
    memory_saver_graph,
    run_tasks,
    steps_builder,
    stream_once,
)
from tests.bench.procs import ServerProcess
from tests.bench.stats import median

__all__ = [
    "RUNS_PER_THREAD",
    "STREAM_BODY",
    "Row",
    "batch_row",
    "check_stream",
    "stateful_row",
    "stateless_row",
    "wait_row",
]

STREAM_BODY = orjson.dumps(
    {"assistant_id": "steps", "input": STEPS_INPUT, "stream_mode": "updates"}
)
WAIT_BODY = orjson.dumps({"assistant_id": "steps", "input": STEPS_INPUT})
RUNS_PER_THREAD = 5  # a short conversation: the thread's state stays small
_EXPECTED = {"steps": ["one", "two", "three"]}


@dataclass
class Row:
    label: str
    clients: int
    requests: str
    unit: str = "runs/s"
    target: float | None = None  # minimum server ÷ in-process
    inproc: list[float] = field(default_factory=list)
    server: list[float] = field(default_factory=list)
    inproc_latency_s: list[float] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def ratios(self) -> list[float]:
        return [s / i for s, i in zip(self.server, self.inproc, strict=True) if i > 0]

    @property
    def ratio(self) -> float:
        return median(self.ratios)

    def add(self, inproc: InprocResult, server: LoadResult) -> None:
        self.inproc.append(inproc.per_s)
        self.inproc_latency_s.extend(inproc.latencies_s)
        self.server.append(server.per_s)
        self.responses.extend(server.responses)
        self.failures.extend(server.failures)
        if server.completed and server.probe_delta is not None:
            self.cpu_ms.append(server.probe_delta / server.completed * 1000)


def check_stream(response: Response) -> str | None:
    body = bytes(response.body)
    if response.status != 200:
        return f"HTTP {response.status}: {body[:200]!r}"
    if body.count(b"event: updates") != 3 or b"event: end" not in body:
        return f"incomplete stream: {body[:300]!r}"
    if b"event: error" in body:
        return f"error event: {body[:300]!r}"
    return None


def _check_wait(response: Response) -> str | None:
    if response.status != 200:
        return f"HTTP {response.status}: {bytes(response.body)[:200]!r}"
    if orjson.loads(bytes(response.body)) != _EXPECTED:
        return f"unexpected output {bytes(response.body)[:200]!r}"
    return None


async def stateless_row(
    server: ServerProcess, row: Row, total: int, repeats: int, *, log: Callable[[str], None]
) -> None:
    graph = steps_builder().compile()
    for rep in range(repeats):
        inproc = await run_tasks(row.clients, total, lambda i, n: stream_once(graph))
        result = await run_load(
            server.host,
            server.port,
            clients=row.clients,
            total=total,
            make_request=lambda i, n: ("POST", "/runs/stream", STREAM_BODY),
            check=check_stream,
            probe=server.cpu_s,
        )
        row.add(inproc, result)
        log(f"{row.label} #{rep + 1}: in-process {inproc.per_s:.0f}/s, server {result.per_s:.0f}/s")


async def _create_threads(server: ServerProcess, count: int) -> list[str]:
    conns = await asyncio.gather(*(connect(server.host, server.port) for _ in range(10)))
    ids: list[str] = []

    async def create(conn_index: int, n: int) -> None:
        for _ in range(n):
            response = await conns[conn_index].request("POST", "/threads", b"{}")
            if response.status != 200:
                raise RuntimeError(f"POST /threads: HTTP {response.status} {response.body!r}")
            ids.append(orjson.loads(bytes(response.body))["thread_id"])

    try:
        await asyncio.gather(*(create(i, count // 10 + (i < count % 10)) for i in range(10)))
    finally:
        for conn in conns:
            conn.close()
    return ids


async def _stateful_once(
    server: ServerProcess, row: Row, total: int, rep: int, builder: Any
) -> tuple[InprocResult, LoadResult]:
    graph = memory_saver_graph(builder)

    def config(i: int, n: int) -> dict[str, Any]:
        thread = f"{rep}-{i}-{n // RUNS_PER_THREAD if n >= 0 else 'warm'}"
        return {"configurable": {"thread_id": thread}}

    inproc = await run_tasks(row.clients, total, lambda i, n: stream_once(graph, config(i, n)))
    per_client = -(-total // row.clients) // RUNS_PER_THREAD + 2
    ids = await _create_threads(server, row.clients * per_client)
    threads = [ids[i * per_client : (i + 1) * per_client] for i in range(row.clients)]

    def request(i: int, n: int) -> tuple[str, str, bytes]:
        thread = threads[i][n // RUNS_PER_THREAD if n >= 0 else -1]
        return "POST", f"/threads/{thread}/runs/stream", STREAM_BODY

    result = await run_load(
        server.host,
        server.port,
        clients=row.clients,
        total=total,
        make_request=request,
        check=check_stream,
        probe=server.cpu_s,
    )
    return inproc, result


async def stateful_row(
    server: ServerProcess, row: Row, total: int, repeats: int, *, log: Callable[[str], None]
) -> None:
    """Runs on threads, ``RUNS_PER_THREAD`` per thread; threads are created untimed."""
    builder = steps_builder()
    for rep in range(repeats):
        inproc, result = await _stateful_once(server, row, total, rep, builder)
        row.add(inproc, result)
        log(f"{row.label} #{rep + 1}: in-process {inproc.per_s:.0f}/s, server {result.per_s:.0f}/s")


async def wait_row(
    server: ServerProcess, row: Row, total: int, repeats: int, *, log: Callable[[str], None]
) -> None:
    graph = steps_builder().compile()
    for rep in range(repeats):
        inproc = await run_tasks(row.clients, total, lambda i, n: graph.ainvoke(STEPS_INPUT))
        result = await run_load(
            server.host,
            server.port,
            clients=row.clients,
            total=total,
            make_request=lambda i, n: ("POST", "/runs/wait", WAIT_BODY),
            check=_check_wait,
            sse=False,
            probe=server.cpu_s,
        )
        row.add(inproc, result)
        log(f"{row.label} #{rep + 1}: in-process {inproc.per_s:.0f}/s, server {result.per_s:.0f}/s")


async def batch_available(server: ServerProcess) -> bool:
    conn = await connect(server.host, server.port)
    try:
        response = await conn.request("POST", "/runs/batch/wait", b"[]")
    finally:
        conn.close()
    return response.status not in (404, 405)


async def batch_row(
    server: ServerProcess,
    row: Row,
    items: int,
    repeats: int,
    *,
    max_concurrency: int,
    log: Callable[[str], None],
) -> None:
    """``/runs/batch/wait`` with ``items`` runs vs ``abatch`` at the server's concurrency limit."""
    graph = steps_builder().compile()
    body = orjson.dumps([{"assistant_id": "steps", "input": STEPS_INPUT}] * items)

    def check(response: Response) -> str | None:
        if response.status != 200:
            return f"HTTP {response.status}: {bytes(response.body)[:300]!r}"
        results = orjson.loads(bytes(response.body)).get("results", [])
        bad = [r for r in results if r.get("status") != "success"]
        if len(results) != items or bad:
            return f"{len(results)} results, {len(bad)} not successful: {bad[:1]!r}"
        return None

    for rep in range(repeats):
        await abatch_items_per_s(graph, min(items, 50), max_concurrency)  # warm-up
        inproc_rate = await abatch_items_per_s(graph, items, max_concurrency)
        result = await run_load(
            server.host,
            server.port,
            clients=1,
            total=1,
            make_request=lambda i, n: ("POST", "/runs/batch/wait", body),
            check=check,
            sse=False,
            probe=server.cpu_s,
        )
        rate = items / result.elapsed_s if result.completed else 0.0
        row.inproc.append(inproc_rate)
        row.server.append(rate)
        row.failures.extend(result.failures)
        if result.completed and result.probe_delta is not None:
            row.cpu_ms.append(result.probe_delta / items * 1000)
        log(f"{row.label} #{rep + 1}: in-process {inproc_rate:.0f}/s, server {rate:.0f}/s")
