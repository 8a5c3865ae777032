"""Crons: the SDK's calls against a real server, time zones, a cron that survives
a restart, and two instances on one database firing each tick exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import NotFoundError, UnprocessableEntityError
from starlette.applications import Starlette

from app.main import create_app
from app.platform.settings import CronSettings
from app.services import Services
from app.settings import Settings
from tests.support.platform import platform_settings
from tests.support.server import RunningServer, run_server


def _settings(tmp_path: Path) -> Settings:
    # The scheduler loop is off: tests fire ticks themselves, at chosen instants.
    return platform_settings(tmp_path, crons=CronSettings(enabled=False))


@asynccontextmanager
async def instance(settings: Settings) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sy") as client:
            yield app, client


def services(app: Starlette) -> Services:
    found: Services = app.state.services
    return found


async def _json(response: httpx.Response) -> Any:
    assert response.status_code < 300, response.text
    return response.json()


async def test_sdk_when_crons_managed_then_created_searched_counted_updated_deleted(
    tmp_path: Path,
) -> None:
    with run_server(_settings(tmp_path)) as running:
        await _exercise_sdk(running)


async def _exercise_sdk(running: RunningServer) -> None:
    sdk = get_client(url=running.url)
    try:
        thread = await sdk.threads.create()
        on_thread = await sdk.crons.create_for_thread(
            thread["thread_id"], "steps", schedule="*/5 * * * *", input={"steps": []}
        )
        stateless = await sdk.crons.create(
            "profile",
            schedule="0 9 * * *",
            timezone="America/New_York",
            input={"user": "ny"},
            metadata={"team": "ops"},
        )
        assert on_thread["thread_id"] == thread["thread_id"]
        assert stateless["thread_id"] is None
        assert stateless["on_run_completed"] == "delete"
        first = datetime.fromisoformat(str(stateless["next_run_date"]))
        assert first.astimezone(ZoneInfo("America/New_York")).hour == 9
        assert first.astimezone(ZoneInfo("UTC")).hour in (13, 14)  # EDT or EST
        found = await sdk.crons.search(metadata={"team": "ops"})
        assert [c["cron_id"] for c in found] == [stateless["cron_id"]]
        assert await sdk.crons.count(thread_id=thread["thread_id"]) == 1
        assert await sdk.crons.count() == 2
        changed = await sdk.crons.update(
            stateless["cron_id"], schedule="30 7 * * *", enabled=False, metadata={"n": 1}
        )
        assert (changed["schedule"], changed["enabled"]) == ("30 7 * * *", False)
        assert changed["metadata"] == {"team": "ops", "n": 1}
        assert await sdk.crons.search(enabled=False) == [changed]
        await sdk.crons.delete(stateless["cron_id"])
        with pytest.raises(NotFoundError):
            await sdk.crons.delete(stateless["cron_id"])
        with pytest.raises(UnprocessableEntityError):
            await sdk.crons.create("steps", schedule="every minute")
        with pytest.raises(UnprocessableEntityError):
            await sdk.crons.create("steps", schedule="* * * * *", timezone="Mars/Olympus")
        with pytest.raises(NotFoundError):
            await sdk.crons.create("nope", schedule="* * * * *")
    finally:
        await sdk.aclose()


async def _runs(client: httpx.AsyncClient, thread_id: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = await _json(
        await client.get(f"/threads/{thread_id}/runs", params={"limit": 100})
    )
    for run in runs:  # each tick's run is an ordinary run: it can be joined
        await _json(await client.get(f"/threads/{thread_id}/runs/{run['run_id']}/join"))
    return runs


async def test_cron_when_server_restarts_then_its_next_tick_still_fires(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    async with instance(settings) as (_, client):
        tid = (await _json(await client.post("/threads")))["thread_id"]
        cron = await _json(
            await client.post(
                f"/threads/{tid}/runs/crons",
                json={"assistant_id": "steps", "schedule": "* * * * *", "input": {"steps": []}},
            )
        )
    async with instance(settings) as (app, client):
        due = datetime.fromisoformat(cron["next_run_date"])
        scheduler = services(app).platform.crons
        assert await scheduler.tick(due - timedelta(seconds=1)) == 0
        assert await scheduler.tick(due) == 1
        assert await scheduler.tick(due) == 0  # the same tick never fires twice
        [run] = await _runs(client, tid)
        assert run["metadata"]["cron_id"] == cron["cron_id"]
        stored = await _json(await client.get(f"/runs/crons/{cron['cron_id']}"))
        assert datetime.fromisoformat(stored["next_run_date"]) == due + timedelta(minutes=1)


async def test_two_instances_when_five_ticks_then_exactly_five_runs(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    async with instance(settings) as (app_a, client_a), instance(settings) as (app_b, _):
        tid = (await _json(await client_a.post("/threads")))["thread_id"]
        cron = await _json(
            await client_a.post(
                f"/threads/{tid}/runs/crons",
                json={"assistant_id": "steps", "schedule": "* * * * *", "input": {"steps": []}},
            )
        )
        store = services(app_a).storage.crons
        schedulers = [services(app_a).platform.crons, services(app_b).platform.crons]
        for _ in range(5):
            current = await store.get(cron["cron_id"])
            assert current is not None
            assert current.next_run_date is not None
            fired = await asyncio.gather(*(s.tick(current.next_run_date) for s in schedulers))
            assert sorted(fired) == [0, 1]
            await _runs(client_a, tid)  # let this tick's run finish before the next
        assert len(await _runs(client_a, tid)) == 5


async def test_tick_when_end_time_passed_then_cron_stops(tmp_path: Path) -> None:
    async with instance(_settings(tmp_path)) as (app, client):
        tid = (await _json(await client.post("/threads")))["thread_id"]
        body = {"assistant_id": "steps", "schedule": "* * * * *", "input": {"steps": []}}
        cron = await _json(await client.post(f"/threads/{tid}/runs/crons", json=body))
        due = datetime.fromisoformat(cron["next_run_date"])
        end = (due + timedelta(seconds=30)).isoformat()
        await _json(await client.patch(f"/runs/crons/{cron['cron_id']}", json={"end_time": end}))
        scheduler = services(app).platform.crons
        assert await scheduler.tick(due) == 1  # the last tick before end_time
        stored = await _json(await client.get(f"/runs/crons/{cron['cron_id']}"))
        assert stored["next_run_date"] is None
        assert await scheduler.tick(due + timedelta(minutes=1)) == 0
        assert len(await _runs(client, tid)) == 1
