"""A run's lifecycle follows from its request alone, never from its transport.

Regression: the WebSocket and ``POST /runs/batch`` created stateless runs on
the stored path (a thread, a run and every checkpoint written to SQLite, then
deleted) that plain HTTP avoided. Now a stateless run that is not kept stores
nothing whichever way it came in, and a kept one is stored whichever way.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

import httpx
from websockets.asyncio.client import connect

from tests.support.server import RunningServer

STEPS = {"assistant_id": "steps", "input": {"steps": []}}


def _stored_rows(server: RunningServer) -> dict[str, int]:
    """Rows in the server's SQLite file, per table the run path writes."""
    with sqlite3.connect(server.settings.sqlite_file) as db:
        return {
            table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("threads", "runs", "checkpoints", "writes")
        }


async def _over_websocket(server: RunningServer, body: dict[str, Any]) -> str:
    async with connect(f"ws://127.0.0.1:{server.port}/ws") as socket:
        await socket.send(json.dumps({"type": "run", **body}))
        async with asyncio.timeout(30):
            while True:
                message = json.loads(await socket.recv())
                if message["type"] == "status" and message["status"] == "success":
                    return str(message["run_id"])


async def _over_batch(http: httpx.AsyncClient, body: dict[str, Any]) -> str:
    (run,) = (await http.post("/runs/batch", json=[body])).json()
    joined = await http.get(f"/threads/{run['thread_id']}/runs/{run['run_id']}/join")
    assert joined.json() == {"steps": ["one", "two", "three"]}
    return str(run["run_id"])


async def _over_http(http: httpx.AsyncClient, body: dict[str, Any]) -> str:
    response = await http.post("/runs/wait", json=body)
    assert response.json() == {"steps": ["one", "two", "three"]}
    return str(response.headers["content-location"].rsplit("/", 1)[-1])


async def test_stateless_run_when_not_kept_then_nothing_stored_over_every_transport(
    server: RunningServer,
) -> None:
    # ``data_version`` moves whenever another connection commits: writing
    # records and deleting them again afterwards would still move it.
    with sqlite3.connect(server.settings.sqlite_file) as watcher:
        version = watcher.execute("PRAGMA data_version").fetchone()[0]
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            run_ids = {
                await _over_websocket(server, STEPS),
                await _over_batch(http, STEPS),
                await _over_http(http, STEPS),
            }
        assert len(run_ids) == 3
        assert watcher.execute("PRAGMA data_version").fetchone()[0] == version


async def test_stateless_run_when_kept_then_stored_over_every_transport(
    server: RunningServer,
) -> None:
    kept = {**STEPS, "on_completion": "keep"}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        before = _stored_rows(server)
        await _over_websocket(server, kept)
        await _over_batch(http, kept)
        await _over_http(http, kept)
        after = _stored_rows(server)
    assert after["threads"] - before["threads"] == 3
    assert after["runs"] - before["runs"] == 3
    assert after["checkpoints"] > before["checkpoints"]
