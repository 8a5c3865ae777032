"""Graphs are compiled once per process, never per request."""

from __future__ import annotations

import asyncio

import httpx

from tests.support.server import RunningServer


async def test_runs_when_fifty_concurrent_requests_then_each_graph_compiled_once(
    server: RunningServer,
) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        body = {"assistant_id": "steps", "input": {"steps": []}}
        answers = await asyncio.gather(*(http.post("/runs/wait", json=body) for _ in range(50)))
        assert all(a.json() == {"steps": ["one", "two", "three"]} for a in answers)
        info = (await http.get("/info")).json()
    assert info["graphs"]["steps"] == {"status": "ok", "compiles": 1}
    assert all(g["compiles"] == 1 for g in info["graphs"].values())
