"""The ``ThreadTTLStore`` contract of ``app.store.thread_ttl``, against every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.store.thread_ttl import ThreadTTL, ThreadTTLStore
from tests.support.storage import BACKENDS, fresh_storage

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
async def ttls(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ThreadTTLStore]:
    async with fresh_storage(request, tmp_path, empty=["thread_ttl"]) as opened:
        yield opened.thread_ttls


async def test_set_when_repeated_then_replaced_and_get_returns_it(ttls: ThreadTTLStore) -> None:
    await ttls.set(ThreadTTL.starting("t1", "delete", 5, T0))
    await ttls.set(ThreadTTL.starting("t1", "keep_latest", 2.5, T0))
    assert await ttls.get("t1") == ThreadTTL("t1", "keep_latest", 2.5, T0 + timedelta(minutes=2.5))
    assert await ttls.get("t2") is None


async def test_due_when_some_expired_then_those_soonest_first_up_to_limit(
    ttls: ThreadTTLStore,
) -> None:
    for tid, minutes in (("late", 9), ("soon", 1), ("mid", 3)):
        await ttls.set(ThreadTTL.starting(tid, "delete", minutes, T0))
    due = await ttls.due(T0 + timedelta(minutes=3))
    assert [t.thread_id for t in due] == ["soon", "mid"]
    assert [t.thread_id for t in await ttls.due(T0 + timedelta(hours=1), limit=1)] == ["soon"]


async def test_forget_when_called_then_not_due_any_more(ttls: ThreadTTLStore) -> None:
    await ttls.set(ThreadTTL.starting("t1", "delete", 1, T0))
    await ttls.forget("t1")
    await ttls.forget("t1")  # idempotent
    assert await ttls.due(T0 + timedelta(days=1)) == []
