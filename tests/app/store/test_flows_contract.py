"""The ``FlowStore`` contract (``app.store.flows``), run against every backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.errors import FlowExists, FlowNotFound
from app.settings import PostgresSettings, StorageSettings
from app.store import open_storage
from app.store.flows import FlowStore

BACKENDS = ["memory", "sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
async def flows(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FlowStore]:
    postgres = None
    if request.param == "postgres":
        postgres = PostgresSettings(url=request.getfixturevalue("postgres_url"))
    settings = StorageSettings(backend=request.param)
    async with open_storage(settings, tmp_path / "f.db", postgres) as storage:
        if storage.postgres is not None:
            async with storage.postgres.pool.connection() as conn:
                await conn.execute("TRUNCATE flows")
        yield storage.flows


def doc(n: int) -> dict[str, object]:
    return {"id": "f", "description": f"v{n}", "nodes": [], "清单": ["一", {"n": n}]}


async def test_create_then_get_returns_version_1_and_exists_is_refused(flows: FlowStore) -> None:
    created = await flows.create("f", doc(1))
    assert (created.flow_id, created.version, created.document) == ("f", 1, doc(1))
    assert (await flows.get("f")).document == doc(1)
    with pytest.raises(FlowExists):
        await flows.create("f", doc(2))


async def test_put_adds_versions_and_get_reads_latest_or_any(flows: FlowStore) -> None:
    await flows.create("f", doc(1))
    assert (await flows.put("f", doc(2))).version == 2
    assert (await flows.put("f", doc(3))).version == 3
    assert (await flows.get("f")).document == doc(3)
    assert (await flows.get("f", 2)).document == doc(2)
    assert [r.version for r in await flows.versions("f")] == [1, 2, 3]
    with pytest.raises(FlowNotFound, match="no version 9"):
        await flows.get("f", 9)


async def test_put_when_concurrent_then_versions_are_distinct(flows: FlowStore) -> None:
    await flows.create("f", doc(1))
    written = await asyncio.gather(*(flows.put("f", doc(n)) for n in range(2, 22)))
    assert sorted(r.version for r in written) == list(range(2, 22))


async def test_unknown_flow_raises_not_found(flows: FlowStore) -> None:
    with pytest.raises(FlowNotFound):
        await flows.get("nope")
    with pytest.raises(FlowNotFound):
        await flows.put("nope", doc(1))
    with pytest.raises(FlowNotFound):
        await flows.versions("nope")
    assert not await flows.delete("nope")


async def test_latest_lists_each_flow_once_and_delete_starts_over(flows: FlowStore) -> None:
    await flows.create("b", doc(1))
    await flows.create("a", doc(1))
    await flows.put("a", doc(2))
    assert [(r.flow_id, r.version) for r in await flows.latest()] == [("a", 2), ("b", 1)]
    assert await flows.delete("a")
    with pytest.raises(FlowNotFound):
        await flows.get("a")
    assert (await flows.create("a", doc(5))).version == 1


async def test_records_are_fresh_objects(flows: FlowStore) -> None:
    record = await flows.create("f", doc(1))
    record.document["nodes"] = ["changed"]
    assert (await flows.get("f")).document == doc(1)


async def test_sqlite_when_reopened_then_flows_are_still_there(tmp_path: Path) -> None:
    settings = StorageSettings(backend="sqlite")
    async with open_storage(settings, tmp_path / "keep.db") as storage:
        await storage.flows.create("f", doc(1))
        await storage.flows.put("f", doc(2))
    async with open_storage(settings, tmp_path / "keep.db") as storage:
        assert (await storage.flows.get("f")).version == 2
