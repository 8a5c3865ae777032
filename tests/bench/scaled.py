"""``make bench``, scaled out: Postgres + Redis rows in the same table and run.

* stateless ``/runs/stream`` at 100 clients, ``switchyard serve --workers 2``
  on Redis (and Postgres), against in-process LangGraph (target >= 1.0x:
  the second process uses the machine's second core);
* stateful runs on threads in Postgres, 20 clients, against in-process
  ``MemorySaver`` (target >= 0.5x);
* time to first event of a run created on instance A, read on instance B
  versus on A itself (p50 difference, target <= 2 ms).

The servers come from ``SWITCHYARD_TEST_POSTGRES_URL`` / ``SWITCHYARD_TEST_REDIS_URL``
(the test defaults); each bench run gets a fresh schema and key prefix. Without
them the rows say n/a and why.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import httpx
import psycopg
import redis

from tests.bench.procs import ServerProcess
from tests.bench.workloads import Row, stateful_row, stateless_row
from tests.support.backends import POSTGRES_URL, REDIS_URL, schema_url

__all__ = ["scaled_rows"]


class Starter(Protocol):
    def __call__(
        self, workdir: Path, name: str, *, args: Sequence[str] = (), **env: str
    ) -> Awaitable[ServerProcess]: ...


class Sink(Protocol):
    rows: list[Row]
    notes: list[str]


def _shared_env() -> tuple[dict[str, str], Callable[[], None]] | str:
    """Env for instances sharing a fresh schema and prefix, and how to clean up; or why not."""
    schema = f"sy_bench_{secrets.token_hex(4)}"
    prefix = f"sy-bench:{secrets.token_hex(4)}:"
    try:
        with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'CREATE SCHEMA "{schema}"')
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except (psycopg.Error, redis.RedisError) as exc:
        return f"{type(exc).__name__}: {exc}"

    def cleanup() -> None:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        client.close()

    env = {
        "SWITCHYARD_STORAGE_BACKEND": "postgres",
        "SWITCHYARD_POSTGRES_URL": schema_url(POSTGRES_URL, schema),
        "SWITCHYARD_REDIS_URL": REDIS_URL,
        "SWITCHYARD_REDIS_PREFIX": prefix,
    }
    return env, cleanup


async def _first_event_ms(create_on: str, read_on: str, samples: int) -> list[float]:
    """Per sample: a background run created on ``create_on``, its stream read on
    ``read_on``; milliseconds from the create response to the first event."""
    found: list[float] = []
    async with httpx.AsyncClient(timeout=30) as http:
        thread_id = (await http.post(f"{create_on}/threads", json={})).json()["thread_id"]
        body: dict[str, Any] = {"assistant_id": "steps", "input": {"steps": []}}
        for _ in range(samples):
            run = (await http.post(f"{create_on}/threads/{thread_id}/runs", json=body)).json()
            started = time.perf_counter()
            path = f"{read_on}/threads/{thread_id}/runs/{run['run_id']}/stream"
            async with http.stream("GET", path) as response:
                async for line in response.aiter_lines():
                    if line.startswith("event:"):
                        found.append((time.perf_counter() - started) * 1000)
                        break
            await http.get(f"{create_on}/threads/{thread_id}/runs/{run['run_id']}/join")
    return found


async def scaled_rows(
    workdir: Path,
    results: Sink,
    *,
    start: Starter,
    count: Callable[[int], int],
    repeats: int,
    log: Callable[[str], None],
) -> None:
    shared = _shared_env()
    if isinstance(shared, str):
        results.notes.append(f"scaled-out rows: n/a (Postgres/Redis not reachable: {shared})")
        return
    env, cleanup = shared
    try:
        log("starting switchyard --workers 2 (Postgres + Redis)")
        server = await start(workdir, "switchyard-workers2", args=["--workers", "2"], **env)
        try:
            row = Row("stateless /runs/stream, --workers 2 on Redis", 100, f"{count(600)}")
            row.target = 1.0
            results.rows.append(row)
            await stateless_row(server, row, count(600), repeats, log=log)
            row = Row("stateful thread, Postgres vs MemorySaver", 20, f"{count(400)}", target=0.5)
            results.rows.append(row)
            await stateful_row(server, row, count(400), repeats, log=log)
        finally:
            server.stop()
        log("first event on another instance (two instances)")
        a = await start(workdir, "switchyard-a", **env)
        b = await start(workdir, "switchyard-b", **env)
        try:
            a_url, b_url = f"http://{a.host}:{a.port}", f"http://{b.host}:{b.port}"
            same = await _first_event_ms(a_url, a_url, count(100))
            other = await _first_event_ms(a_url, b_url, count(100))
        finally:
            a.stop()
            b.stop()
        same_p50, other_p50 = statistics.median(same), statistics.median(other)
        verdict = "meets" if other_p50 - same_p50 <= 2.0 else "misses"
        results.notes.append(
            f"first event of a run created on A: read on A p50 {same_p50:.1f} ms, on B"
            f" p50 {other_p50:.1f} ms (+{other_p50 - same_p50:.1f} ms; {verdict} the"
            f" <= 2 ms target; {len(same)} runs each)"
        )
    finally:
        await asyncio.to_thread(cleanup)
