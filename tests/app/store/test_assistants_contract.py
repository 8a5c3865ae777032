"""The ``AssistantStore`` contract of ``app.store.assistants``, against every backend.

``BACKENDS`` (tests.support.storage) lists them: memory, SQLite, Postgres.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.errors import AssistantNotFound, InvalidInput
from app.store import AssistantStore
from app.store.assistants import Assistant, AssistantExists
from tests.support.storage import BACKENDS, fresh_storage

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AssistantStore]:
    async with fresh_storage(
        request, tmp_path, empty=["assistants", "assistant_versions"]
    ) as opened:
        yield opened.assistants


def ids(found: list[Assistant]) -> list[str]:
    return [a.assistant_id for a in found]


def new(aid: str, seconds: float = 0, **fields: object) -> Assistant:
    moment = T0 + timedelta(seconds=seconds)
    values: dict[str, object] = {"graph_id": "agent", "name": aid, "created_at": moment}
    values.update(fields)
    values.setdefault("updated_at", moment)
    return Assistant(assistant_id=aid, **values)  # type: ignore[arg-type]


async def test_create_when_new_then_version_one_and_get_returns_equal_record(
    store: AssistantStore,
) -> None:
    assistant = new("a1", config={"configurable": {"k": [1, "✓"]}}, context={"tone": "dry"})
    created = await store.create(assistant)
    assert created == assistant
    assert created.version == 1
    assert await store.get("a1") == assistant
    [version] = await store.versions("a1")
    assert (version.version, version.config, version.context) == (
        1,
        assistant.config,
        {"tone": "dry"},
    )


async def test_create_when_id_taken_then_assistant_exists(store: AssistantStore) -> None:
    await store.create(new("a1"))
    with pytest.raises(AssistantExists):
        await store.create(new("a1", name="other"))


async def test_update_when_called_then_new_version_latest_and_metadata_merged(
    store: AssistantStore,
) -> None:
    await store.create(new("a1", metadata={"team": "x", "keep": True}, config={"tags": ["a"]}))
    second = await store.update("a1", metadata={"team": "y"}, name="renamed")
    assert (second.version, second.name, second.metadata) == (
        2,
        "renamed",
        {"team": "y", "keep": True},
    )
    assert second.config == {"tags": ["a"]}  # not given: kept
    third = await store.update("a1", config={"tags": ["b"]}, context={"tone": "warm"})
    assert (third.version, third.config, third.context) == (3, {"tags": ["b"]}, {"tone": "warm"})
    assert third.updated_at > second.updated_at > T0
    assert third.created_at == T0
    assert [v.version for v in await store.versions("a1")] == [3, 2, 1]


async def test_set_latest_when_older_version_then_its_content_and_next_update_does_not_reuse(
    store: AssistantStore,
) -> None:
    await store.create(new("a1", config={"configurable": {"n": 1}}))
    await store.update("a1", config={"configurable": {"n": 2}})
    back = await store.set_latest("a1", 1)
    assert (back.version, back.config) == (1, {"configurable": {"n": 1}})
    assert (await store.get("a1")) == back
    after = await store.update("a1", name="again")
    assert after.version == 3
    assert after.config == {"configurable": {"n": 1}}
    with pytest.raises(AssistantNotFound):
        await store.set_latest("a1", 9)
    with pytest.raises(AssistantNotFound):
        await store.update("missing", name="x")


async def test_versions_when_filtered_and_paged_then_newest_first(store: AssistantStore) -> None:
    await store.create(new("a1", metadata={"stage": "draft"}))
    await store.update("a1", metadata={"stage": "live"})
    await store.update("a1", name="n3")
    live = await store.versions("a1", metadata={"stage": "live"})
    assert [v.version for v in live] == [3, 2]
    assert [v.version for v in await store.versions("a1", limit=1, offset=1)] == [2]
    assert await store.versions("missing") == []


async def test_delete_when_exists_then_gone_with_versions(store: AssistantStore) -> None:
    await store.create(new("a1"))
    await store.update("a1", name="b")
    assert await store.delete("a1") is True
    assert await store.get("a1") is None
    assert await store.versions("a1") == []
    assert await store.delete("a1") is False


async def test_search_when_filtered_then_graph_name_substring_and_metadata_match(
    store: AssistantStore,
) -> None:
    await store.create(new("a1", graph_id="g1", name="Support Bot", metadata={"team": "a"}))
    await store.create(new("a2", 1, graph_id="g2", name="sales bot", metadata={"team": "a"}))
    await store.create(new("a3", 2, graph_id="g1", name="Other", metadata={"team": "b"}))
    assert ids(await store.search(name="BOT")) == ["a2", "a1"]
    assert ids(await store.search(graph_id="g1")) == ["a3", "a1"]
    assert ids(await store.search(metadata={"team": "a"}, graph_id="g1")) == ["a1"]
    assert await store.count(name="bot") == 2
    assert await store.count(metadata={"team": "b"}) == 1
    assert await store.count() == 3


async def test_search_when_sorted_and_paged_then_ordered_with_insertion_tiebreak(
    store: AssistantStore,
) -> None:
    for aid, name in (("a1", "c"), ("a2", "a"), ("a3", "b")):
        await store.create(new(aid, name=name))  # equal created_at
    assert ids(await store.search()) == ["a3", "a2", "a1"]
    assert ids(await store.search(sort_by="created_at", sort_order="asc")) == ["a1", "a2", "a3"]
    assert ids(await store.search(sort_by="name", sort_order="asc")) == ["a2", "a3", "a1"]
    assert ids(await store.search(sort_by="name", sort_order="asc", limit=1, offset=1)) == ["a3"]
    with pytest.raises(InvalidInput):
        await store.search(sort_by="version")  # type: ignore[arg-type]


async def test_sync_system_when_graphs_change_then_system_set_follows_and_user_ones_stay(
    store: AssistantStore,
) -> None:
    system = {"created_by": "system"}
    await store.sync_system([new("s1", metadata=system), new("s2", metadata=system)])
    await store.create(new("u1", metadata={"created_by": "alice"}))
    first = await store.get("s1")
    await store.sync_system(
        [new("s1", 5, metadata=system, name="renamed"), new("s3", metadata=system)]
    )
    assert {a.assistant_id for a in await store.search(limit=10)} == {"s1", "s3", "u1"}
    assert await store.get("s1") == first  # kept as first stored


async def test_sync_system_when_a_flow_is_described_anew_then_only_its_description_follows(
    store: AssistantStore,
) -> None:
    flow = {"created_by": "flow"}
    await store.sync_system([new("f1", metadata=flow, description="first words")])
    first = await store.get("f1")
    assert first is not None
    await store.sync_system([new("f1", 5, metadata=flow, description="new words", name="x")])
    after = await store.get("f1")
    assert after is not None
    assert after.description == "new words"
    assert dataclasses.replace(after, description="first words") == first
    found = await store.search(limit=10)
    assert [a.description for a in found] == ["new words"]


async def test_update_when_concurrent_then_every_version_distinct(store: AssistantStore) -> None:
    await store.create(new("a1"))
    done = await asyncio.gather(*(store.update("a1", metadata={f"k{i}": i}) for i in range(8)))
    assert sorted(a.version for a in done) == list(range(2, 10))
    final = await store.get("a1")
    assert final is not None
    assert final.version == 9
    assert all(final.metadata[f"k{i}"] == i for i in range(8))


async def test_returned_assistant_when_mutated_then_store_unchanged(store: AssistantStore) -> None:
    created = await store.create(new("a1", config={"tags": ["a"]}))
    created.config["tags"].append("b")
    fetched = await store.get("a1")
    assert fetched is not None
    assert fetched.config == {"tags": ["a"]}
