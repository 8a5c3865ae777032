"""The ``CronStore`` contract of ``app.store.crons``, against every backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.store.crons import Cron, CronStore
from tests.support.storage import BACKENDS, fresh_storage

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
async def crons(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CronStore]:
    async with fresh_storage(request, tmp_path, empty=["crons"]) as opened:
        yield opened.crons


def new(cron_id: str, minutes: float = 0, **fields: object) -> Cron:
    values: dict[str, object] = {
        "assistant_id": "a1",
        "schedule": "* * * * *",
        "payload": {"input": {"x": [1, "✓"]}},
        "next_run_date": T0 + timedelta(minutes=minutes),
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(fields)
    return Cron(cron_id=cron_id, **values)  # type: ignore[arg-type]


async def test_create_when_new_then_get_returns_equal_record(crons: CronStore) -> None:
    cron = new("c1", thread_id="t1", timezone="Europe/Paris", metadata={"k": {"n": 1}})
    assert await crons.create(cron) == cron
    assert await crons.get("c1") == cron
    assert await crons.get("missing") is None


async def test_claim_when_raced_then_exactly_one_winner_and_next_tick_set(
    crons: CronStore,
) -> None:
    await crons.create(new("c1"))
    following = T0 + timedelta(minutes=1)
    won = await asyncio.gather(*(crons.claim("c1", T0, following) for _ in range(5)))
    assert sorted(won) == [False] * 4 + [True]
    stored = await crons.get("c1")
    assert stored is not None
    assert stored.next_run_date == following
    assert await crons.claim("c1", T0, following) is False  # that tick is gone


async def test_due_when_some_scheduled_then_enabled_due_ones_soonest_first(
    crons: CronStore,
) -> None:
    await crons.create(new("late", 10))
    await crons.create(new("soon", 1))
    await crons.create(new("off", 0, enabled=False))
    await crons.create(new("over", 0, next_run_date=None))
    assert [c.cron_id for c in await crons.due(T0 + timedelta(minutes=5))] == ["soon"]
    assert [c.cron_id for c in await crons.due(T0 + timedelta(hours=1))] == ["soon", "late"]


async def test_update_search_count_delete(crons: CronStore) -> None:
    await crons.create(new("c1", thread_id="t1", metadata={"team": "a"}))
    await crons.create(new("c2", assistant_id="a2", metadata={"team": "b"}))
    changed = await crons.update("c1", enabled=False, metadata={"more": 1})
    assert changed is not None
    assert (changed.enabled, changed.metadata) == (False, {"team": "a", "more": 1})
    assert await crons.update("missing", enabled=True) is None
    assert [c.cron_id for c in await crons.search()] == ["c2", "c1"]
    assert [c.cron_id for c in await crons.search(sort_order="asc")] == ["c1", "c2"]
    assert [c.cron_id for c in await crons.search(enabled=False)] == ["c1"]
    assert [c.cron_id for c in await crons.search(assistant_id="a2")] == ["c2"]
    assert await crons.count(metadata={"team": "a"}) == 1
    assert await crons.count(thread_id="t1") == 1
    assert await crons.delete("c1") is True
    assert await crons.delete("c1") is False
    assert await crons.count() == 1
