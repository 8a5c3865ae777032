"""Thread lifecycle over HTTP: TTL (create, update, include=ttl, the sweeper with
an injected clock, the default TTL), prune, supersteps, and deletion giving
every row and event log back."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app.platform.settings import ThreadSettings
from app.services import Services
from app.settings import Settings
from app.store.base import utcnow
from app.store.thread_ttl import ThreadTTL
from tests.support.platform import platform_settings

TABLES = ("threads", "runs", "checkpoints", "writes", "thread_ttl")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return platform_settings(tmp_path, threads=ThreadSettings(sweep_interval_s=3600))


def services(app: Starlette) -> Services:
    found: Services = app.state.services
    return found


async def ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


async def test_ttl_when_set_on_create_and_update_then_shown_with_include(
    client: httpx.AsyncClient,
) -> None:
    created = await ok(await client.post("/threads", json={"ttl": {"ttl": 30}}))
    tid = created["thread_id"]
    shown = await ok(await client.get(f"/threads/{tid}", params={"include": "ttl"}))
    assert shown["ttl"]["strategy"] == "delete"
    assert shown["ttl"]["ttl_minutes"] == 30
    await ok(
        await client.patch(
            f"/threads/{tid}", json={"metadata": {}, "ttl": {"ttl": 5, "strategy": "keep_latest"}}
        )
    )
    shown = await ok(await client.get(f"/threads/{tid}?include=ttl"))
    assert (shown["ttl"]["strategy"], shown["ttl"]["ttl_minutes"]) == ("keep_latest", 5)
    assert "ttl" not in await ok(await client.get(f"/threads/{tid}"))
    bad = await client.post("/threads", json={"ttl": {"ttl": -1}})
    assert bad.status_code == 422


async def test_sweep_when_ttl_due_then_idle_thread_deleted_and_used_one_rearmed(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    doomed = (await ok(await client.post("/threads", json={"ttl": {"ttl": 1}})))["thread_id"]
    used = (await ok(await client.post("/threads")))["thread_id"]
    kept = (await ok(await client.post("/threads", json={"ttl": {"ttl": 60}})))["thread_id"]
    ttls = services(app).storage.thread_ttls
    # Armed long ago, but the thread was used (created) just now: not idle.
    await ttls.set(ThreadTTL(used, "delete", 5, utcnow() - timedelta(minutes=10)))
    sweeper = services(app).platform.sweeper
    assert await sweeper.sweep(utcnow() + timedelta(minutes=2)) == 1
    assert (await client.get(f"/threads/{doomed}")).status_code == 404
    assert (await client.get(f"/threads/{kept}")).status_code == 200
    assert (await client.get(f"/threads/{used}")).status_code == 200
    rearmed = await ttls.get(used)
    assert rearmed is not None
    assert rearmed.expires_at > utcnow() + timedelta(minutes=4)
    assert await ttls.get(doomed) is None


async def test_sweep_when_keep_latest_due_then_history_pruned_and_state_kept(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    tid = (await ok(await client.post("/threads")))["thread_id"]
    for _ in range(2):
        await ok(
            await client.post(
                f"/threads/{tid}/runs/wait", json={"assistant_id": "steps", "input": {"steps": []}}
            )
        )
    before = await ok(await client.get(f"/threads/{tid}/state"))
    assert len(await ok(await client.post(f"/threads/{tid}/history", json={"limit": 100}))) > 4
    await ok(
        await client.patch(
            f"/threads/{tid}", json={"metadata": {}, "ttl": {"ttl": 1, "strategy": "keep_latest"}}
        )
    )
    assert await services(app).platform.sweeper.sweep(utcnow() + timedelta(minutes=2)) == 1
    history = await ok(await client.post(f"/threads/{tid}/history", json={"limit": 100}))
    assert len(history) == 1
    after = await ok(await client.get(f"/threads/{tid}/state"))
    assert after["values"] == before["values"] == {"steps": ["one", "two", "three"] * 2}


async def test_sweep_when_default_ttl_then_idle_threads_without_own_ttl_deleted(
    tmp_path: Path,
) -> None:
    from app.main import create_app

    app = create_app(platform_settings(tmp_path, threads=ThreadSettings(default_ttl_minutes=1)))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            idle = (await ok(await client.post("/threads")))["thread_id"]
            own = (await ok(await client.post("/threads", json={"ttl": {"ttl": 60}})))["thread_id"]
            sweeper = services(app).platform.sweeper
            assert await sweeper.sweep(utcnow() + timedelta(seconds=30)) == 0
            assert await sweeper.sweep(utcnow() + timedelta(minutes=2)) == 1
            assert (await client.get(f"/threads/{idle}")).status_code == 404
            assert (await client.get(f"/threads/{own}")).status_code == 200


async def test_prune_when_threads_given_then_deleted_or_trimmed_and_counted(
    client: httpx.AsyncClient,
) -> None:
    ids = []
    for _ in range(3):
        tid = (await ok(await client.post("/threads")))["thread_id"]
        await ok(
            await client.post(
                f"/threads/{tid}/runs/wait", json={"assistant_id": "steps", "input": {"steps": []}}
            )
        )
        ids.append(tid)
    trimmed = await ok(
        await client.post("/threads/prune", json={"thread_ids": ids[:1], "strategy": "keep_latest"})
    )
    assert trimmed == {"pruned_count": 1}
    assert len(await ok(await client.post(f"/threads/{ids[0]}/history", json={}))) == 1
    gone = await ok(
        await client.post("/threads/prune", json={"thread_ids": [*ids[1:], "missing-thread"]})
    )
    assert gone == {"pruned_count": 2}
    assert [(await client.get(f"/threads/{t}")).status_code for t in ids] == [200, 404, 404]


async def test_create_when_supersteps_given_then_thread_starts_with_that_history(
    client: httpx.AsyncClient,
) -> None:
    body = {
        "graph_id": "steps",
        "supersteps": [
            {"updates": [{"values": {"steps": ["seeded"]}, "as_node": "one"}]},
            {"updates": [{"values": {"steps": ["more"]}, "as_node": "two"}]},
        ],
    }
    tid = (await ok(await client.post("/threads", json=body)))["thread_id"]
    state = await ok(await client.get(f"/threads/{tid}/state"))
    assert state["values"] == {"steps": ["seeded", "more"]}
    assert state["next"] == ["three"]
    assert (await ok(await client.get(f"/threads/{tid}")))["values"] == state["values"]
    no_graph = await client.post("/threads", json={"supersteps": body["supersteps"]})
    assert no_graph.status_code == 422


def _rows(db_file: Path) -> dict[str, int]:
    with sqlite3.connect(db_file) as db:
        return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}


async def test_delete_when_thread_had_runs_and_ttl_then_storage_back_to_baseline(
    app: Starlette, client: httpx.AsyncClient, settings: Settings
) -> None:
    events = services(app).events
    baseline = _rows(settings.sqlite_file), len(events._logs)  # type: ignore[attr-defined]
    tid = (await ok(await client.post("/threads", json={"ttl": {"ttl": 60}})))["thread_id"]
    for _ in range(3):
        body = {"assistant_id": "steps", "input": {"steps": []}, "stream_resumable": True}
        await ok(await client.post(f"/threads/{tid}/runs/wait", json=body))
    grown = _rows(settings.sqlite_file)
    assert grown["checkpoints"] > baseline[0]["checkpoints"]
    assert grown["runs"] == baseline[0]["runs"] + 3
    assert len(events._logs) == baseline[1] + 3  # type: ignore[attr-defined]
    assert (await client.delete(f"/threads/{tid}")).status_code == 204
    assert (_rows(settings.sqlite_file), len(events._logs)) == baseline  # type: ignore[attr-defined]
