"""The ``ThreadStore``/``RunStore`` contract of ``app.store.base``, run against every backend.

Each test receives stores opened through ``open_storage``; adding a backend
means adding its name to ``BACKENDS``. Postgres tests share the session's
schema (``postgres_url``) and start from empty tables.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from app.errors import Conflict, InvalidInput, RunNotFound, ThreadExists, ThreadNotFound
from app.settings import PostgresSettings, StorageSettings
from app.store import Run, RunStore, Storage, Thread, ThreadStore, open_storage

BACKENDS = ["memory", "sqlite", "postgres"]

T0 = datetime(2025, 1, 1, tzinfo=UTC)

RICH_METADATA: dict[str, Any] = {
    "graph_id": "agent",
    "owner": "zoë 🚂",
    "清单": ["一", "二", {"深": {"更深": [1, 2.5, True, None]}}],
    "nested": {"a": {"b": {"c": "d"}}, "empty": {}, "list": []},
    "count": 3,
    "ratio": 0.25,
    "flag": False,
    "nothing": None,
    "dotted.key": "dots are literal",
}


@pytest.fixture(params=BACKENDS)
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    settings = StorageSettings(backend=request.param)
    postgres = None
    if request.param == "postgres":
        postgres = PostgresSettings(url=request.getfixturevalue("postgres_url"))
    async with open_storage(settings, tmp_path / "contract.db", postgres) as opened:
        if opened.postgres is not None:
            async with opened.postgres.pool.connection() as conn:
                await conn.execute("TRUNCATE threads, runs")
        yield opened


@pytest.fixture
def threads(storage: Storage) -> ThreadStore:
    return storage.threads


@pytest.fixture
def runs(storage: Storage) -> RunStore:
    return storage.runs


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def new_thread(thread_id: str, seconds: float = 0, **fields: Any) -> Thread:
    return Thread(thread_id=thread_id, created_at=at(seconds), updated_at=at(seconds), **fields)


def new_run(run_id: str, thread_id: str = "t1", seconds: float = 0, **fields: Any) -> Run:
    return Run(
        run_id=run_id,
        thread_id=thread_id,
        assistant_id="agent",
        created_at=at(seconds),
        updated_at=at(seconds),
        **fields,
    )


def ids_of(found: list[Thread] | list[Run]) -> list[str]:
    return [r.thread_id if isinstance(r, Thread) else r.run_id for r in found]


# --- threads: records ------------------------------------------------------------------


async def test_get_when_thread_unknown_then_none(threads: ThreadStore) -> None:
    assert await threads.get("missing") is None


async def test_create_when_thread_has_rich_json_then_get_returns_equal_record(
    threads: ThreadStore,
) -> None:
    thread = new_thread(
        "t1",
        metadata=RICH_METADATA,
        status="interrupted",
        values={"messages": [{"type": "human", "content": "héllo ✓"}], "n": 1},
        interrupts={"task-1": [{"value": {"question": "¿sí?"}, "id": "i1"}]},
    )
    created = await threads.create(thread)
    assert created == thread
    assert await threads.get("t1") == thread


async def test_create_when_thread_id_exists_then_thread_exists_raised(
    threads: ThreadStore,
) -> None:
    await threads.create(new_thread("t1", metadata={"first": True}))
    with pytest.raises(ThreadExists):
        await threads.create(new_thread("t1", metadata={"second": True}))
    stored = await threads.get("t1")
    assert stored is not None
    assert stored.metadata == {"first": True}


async def test_create_when_timestamps_not_utc_then_same_instants_come_back_in_utc(
    threads: ThreadStore,
) -> None:
    paris = timezone(timedelta(hours=1))
    local = datetime(2025, 6, 1, 14, 30, 0, 123456, tzinfo=paris)
    await threads.create(Thread(thread_id="t1", created_at=local, updated_at=local))
    stored = await threads.get("t1")
    assert stored is not None
    assert stored.created_at == local
    assert stored.created_at.utcoffset() == timedelta(0)


async def test_create_when_metadata_holds_tuples_then_they_come_back_as_json_lists(
    threads: ThreadStore,
) -> None:
    await threads.create(new_thread("t1", metadata={"pair": (1, 2)}))
    stored = await threads.get("t1")
    assert stored is not None
    assert stored.metadata == {"pair": [1, 2]}


async def test_returned_thread_when_mutated_then_store_unchanged(threads: ThreadStore) -> None:
    original = new_thread("t1", metadata={"tags": ["a"]}, values={"deep": {"n": 1}})
    created = await threads.create(original)
    original.metadata["tags"].append("from input")
    created.metadata["tags"].append("from create")
    assert created.values is not None
    created.values["deep"]["n"] = 2
    fetched = await threads.get("t1")
    assert fetched is not None
    fetched.interrupts["x"] = 1
    updated = await threads.update("t1", status="busy")
    updated.metadata["tags"].append("from update")
    [found] = await threads.search()
    found.metadata["new"] = True

    stored = await threads.get("t1")
    assert stored is not None
    assert stored.metadata == {"tags": ["a"]}
    assert stored.values == {"deep": {"n": 1}}
    assert stored.interrupts == {}
    assert stored is not fetched


async def test_update_when_thread_unknown_then_thread_not_found(threads: ThreadStore) -> None:
    with pytest.raises(ThreadNotFound):
        await threads.update("missing", status="busy")
    with pytest.raises(ThreadNotFound):
        await threads.update("missing", metadata={"a": 1})


async def test_update_when_called_repeatedly_then_updated_at_increases_and_created_at_kept(
    threads: ThreadStore,
) -> None:
    created = await threads.create(Thread(thread_id="t1"))
    stamps = [created.updated_at]
    for _ in range(20):
        updated = await threads.update("t1")
        assert updated.created_at == created.created_at
        stamps.append(updated.updated_at)
    assert all(before < after for before, after in itertools.pairwise(stamps))


async def test_update_when_updated_at_ahead_of_clock_then_still_moves_forward(
    threads: ThreadStore, runs: RunStore
) -> None:
    ahead = datetime.now(UTC) + timedelta(hours=1)
    await threads.create(Thread(thread_id="t1", created_at=ahead, updated_at=ahead))
    await runs.create(Run(run_id="r1", thread_id="t1", assistant_id="a", updated_at=ahead))
    assert (await threads.update("t1", status="busy")).updated_at > ahead
    assert (await runs.set_status("r1", "running")).updated_at > ahead


async def test_update_when_metadata_given_then_merged_key_by_key(threads: ThreadStore) -> None:
    await threads.create(new_thread("t1", metadata={"keep": 1, "replace": {"old": 1}, "n": 1}))
    updated = await threads.update("t1", metadata={"replace": {"new": 2}, "n": 2, "add": "é"})
    expected = {"keep": 1, "replace": {"new": 2}, "n": 2, "add": "é"}
    assert updated.metadata == expected
    stored = await threads.get("t1")
    assert stored is not None
    assert stored.metadata == expected


async def test_update_when_metadata_merged_concurrently_then_no_key_lost(
    threads: ThreadStore,
) -> None:
    await threads.create(new_thread("t1"))
    await asyncio.gather(*(threads.update("t1", metadata={f"k{i}": i}) for i in range(25)))
    stored = await threads.get("t1")
    assert stored is not None
    assert stored.metadata == {f"k{i}": i for i in range(25)}


async def test_update_when_fields_given_then_replaced_and_omitted_fields_kept(
    threads: ThreadStore,
) -> None:
    await threads.create(
        new_thread("t1", metadata={"m": 1}, values={"old": 1}, interrupts={"i": [1]})
    )
    updated = await threads.update("t1", status="error", values={"new": [1, 2]})
    assert (updated.status, updated.values, updated.interrupts) == (
        "error",
        {"new": [1, 2]},
        {"i": [1]},
    )
    updated = await threads.update("t1", interrupts={})
    assert (updated.status, updated.values, updated.interrupts) == ("error", {"new": [1, 2]}, {})
    assert updated.metadata == {"m": 1}
    assert await threads.get("t1") == updated


async def test_delete_when_thread_exists_then_true_and_gone(threads: ThreadStore) -> None:
    await threads.create(new_thread("t1"))
    assert await threads.delete("t1") is True
    assert await threads.get("t1") is None
    assert await threads.delete("t1") is False
    await threads.create(new_thread("t1"))  # the id is free again
    assert await threads.get("t1") is not None


# --- threads: search and count ---------------------------------------------------------


@pytest.fixture
async def five_threads(threads: ThreadStore) -> ThreadStore:
    """t0..t4 created one second apart, with metadata, values and statuses to filter on."""
    specs: list[tuple[str, dict[str, Any], dict[str, Any] | None, Any]] = [
        ("t0", {"graph_id": "a", "n": 0, "tags": ["x"]}, {"topic": "rail"}, "idle"),
        ("t1", {"graph_id": "b", "n": 1, "tags": ["x", "y"]}, {"topic": "road"}, "busy"),
        ("t2", {"graph_id": "a", "n": 2, "owner": None}, None, "idle"),
        ("t3", {"graph_id": "a", "n": 3, "nested": {"k": "v"}}, {"topic": "rail"}, "error"),
        (
            "t4",
            {"graph_id": "b", "n": 4, "flag": True, "dotted.key": "é", 'say "hi"': 1},
            {"topic": 7},
            "idle",
        ),
    ]
    for i, (thread_id, metadata, values, status) in enumerate(specs):
        await threads.create(
            new_thread(thread_id, i, metadata=metadata, values=values, status=status)
        )
    return threads


async def test_search_when_no_filter_then_newest_first_with_default_limit(
    threads: ThreadStore,
) -> None:
    for i in range(12):
        await threads.create(new_thread(f"t{i:02}", i))
    found = await threads.search()
    assert ids_of(found) == [f"t{i:02}" for i in range(11, 1, -1)]


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"graph_id": "a"}, ["t3", "t2", "t0"]),
        ({"graph_id": "a", "n": 2}, ["t2"]),
        ({"graph_id": "c"}, []),
        ({"owner": None}, ["t2"]),
        ({"nested": {"k": "v"}}, ["t3"]),
        ({"nested": {"k": "other"}}, []),
        ({"tags": ["x"]}, ["t0"]),
        ({"tags": ("x", "y")}, ["t1"]),
        ({"flag": True}, ["t4"]),
        ({"dotted.key": "é"}, ["t4"]),
        ({'say "hi"': 1, "graph_id": "b"}, ["t4"]),
        ({"n": "1"}, []),
        ({}, ["t4", "t3", "t2", "t1", "t0"]),
    ],
)
async def test_search_when_metadata_given_then_threads_containing_every_pair(
    five_threads: ThreadStore, metadata: dict[str, Any], expected: list[str]
) -> None:
    assert ids_of(await five_threads.search(metadata=metadata)) == expected
    assert await five_threads.count(metadata=metadata) == len(expected)


async def test_search_when_values_given_then_threads_whose_values_contain_them(
    five_threads: ThreadStore,
) -> None:
    assert ids_of(await five_threads.search(values={"topic": "rail"})) == ["t3", "t0"]
    assert ids_of(await five_threads.search(values={"topic": 7})) == ["t4"]
    assert await five_threads.search(values={"missing": None}) == []


async def test_search_when_status_and_ids_given_then_intersection(
    five_threads: ThreadStore,
) -> None:
    assert ids_of(await five_threads.search(status="idle")) == ["t4", "t2", "t0"]
    assert ids_of(await five_threads.search(ids=["t0", "t3", "nope"])) == ["t3", "t0"]
    assert ids_of(await five_threads.search(status="idle", ids=["t0", "t3"])) == ["t0"]
    assert await five_threads.search(ids=[]) == []


async def test_search_when_limit_and_offset_given_then_that_page(
    five_threads: ThreadStore,
) -> None:
    assert ids_of(await five_threads.search(limit=2, offset=1)) == ["t3", "t2"]
    assert ids_of(await five_threads.search(limit=2, offset=4)) == ["t0"]
    assert await five_threads.search(limit=0) == []
    filtered = await five_threads.search(metadata={"graph_id": "a"}, limit=1, offset=1)
    assert ids_of(filtered) == ["t2"]
    both = await five_threads.search(metadata={"graph_id": "a"}, values={"topic": "rail"}, offset=1)
    assert ids_of(both) == ["t0"]


async def test_search_when_sorted_then_ordered_by_that_field(five_threads: ThreadStore) -> None:
    for thread_id in ["t2", "t0", "t4", "t1", "t3"]:
        await five_threads.update(thread_id)  # updated_at order differs from created_at
    assert ids_of(await five_threads.search(sort_by="created_at", sort_order="asc")) == [
        "t0", "t1", "t2", "t3", "t4",
    ]  # fmt: skip
    assert ids_of(await five_threads.search(sort_by="updated_at", sort_order="asc")) == [
        "t2", "t0", "t4", "t1", "t3",
    ]  # fmt: skip
    assert ids_of(await five_threads.search(sort_by="updated_at")) == [
        "t3", "t1", "t4", "t0", "t2",
    ]  # fmt: skip
    assert ids_of(await five_threads.search(sort_by="thread_id", sort_order="asc")) == [
        "t0", "t1", "t2", "t3", "t4",
    ]  # fmt: skip
    by_status = await five_threads.search(sort_by="status", sort_order="asc")
    assert [t.status for t in by_status] == ["busy", "error", "idle", "idle", "idle"]


async def test_search_when_sort_key_unknown_then_invalid_input(threads: ThreadStore) -> None:
    with pytest.raises(InvalidInput):
        await threads.search(sort_by="metadata; DROP TABLE threads", limit=1)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        await threads.search(sort_order="sideways")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        await threads.search(limit=-1)


async def test_count_when_filters_given_then_number_of_matching_threads(
    five_threads: ThreadStore,
) -> None:
    assert await five_threads.count() == 5
    assert await five_threads.count(status="idle") == 3
    assert await five_threads.count(metadata={"graph_id": "b"}, status="idle") == 1
    assert await five_threads.count(status="interrupted") == 0


# --- runs -----------------------------------------------------------------------------


async def test_get_when_run_unknown_then_none(runs: RunStore) -> None:
    assert await runs.get("missing") is None
    assert await runs.get("missing", thread_id="t1") is None


async def test_create_when_run_new_then_get_returns_equal_record(runs: RunStore) -> None:
    run = new_run(
        "r1",
        metadata=RICH_METADATA,
        multitask_strategy="interrupt",
        kwargs={"input": {"messages": [{"content": "ünïcode"}]}, "stream_mode": ["values"]},
    )
    assert await runs.create(run) == run
    assert await runs.get("r1") == run


async def test_get_when_thread_id_given_then_run_only_if_on_that_thread(runs: RunStore) -> None:
    await runs.create(new_run("r1", thread_id="t1"))
    found = await runs.get("r1", thread_id="t1")
    assert found is not None
    assert found.run_id == "r1"
    assert await runs.get("r1", thread_id="t2") is None


async def test_create_when_run_id_exists_then_conflict(runs: RunStore) -> None:
    await runs.create(new_run("r1", status="running"))
    with pytest.raises(Conflict):
        await runs.create(new_run("r1"))
    stored = await runs.get("r1")
    assert stored is not None
    assert stored.status == "running"


async def test_returned_run_when_mutated_then_store_unchanged(runs: RunStore) -> None:
    created = await runs.create(new_run("r1", kwargs={"input": {"n": [1]}}))
    created.kwargs["input"]["n"].append(2)
    created.metadata["x"] = 1
    fetched = await runs.get("r1")
    assert fetched is not None
    fetched.kwargs.clear()
    stored = await runs.get("r1")
    assert stored is not None
    assert (stored.kwargs, stored.metadata) == ({"input": {"n": [1]}}, {})


async def test_set_status_when_run_unknown_then_run_not_found(runs: RunStore) -> None:
    with pytest.raises(RunNotFound):
        await runs.set_status("missing", "running")


async def test_set_status_when_called_then_status_and_updated_at_change(runs: RunStore) -> None:
    created = await runs.create(Run(run_id="r1", thread_id="t1", assistant_id="agent"))
    running = await runs.set_status("r1", "running")
    done = await runs.set_status("r1", "success")
    assert (running.status, done.status) == ("running", "success")
    assert created.updated_at < running.updated_at < done.updated_at
    assert created.created_at == running.created_at == done.created_at
    assert await runs.get("r1") == done


async def test_for_thread_when_runs_exist_then_newest_first_paged_and_filtered(
    runs: RunStore,
) -> None:
    for i in range(5):
        await runs.create(new_run(f"r{i}", "t1", i, status="success" if i % 2 else "error"))
    await runs.create(new_run("other", "t2", 10))
    assert ids_of(await runs.for_thread("t1")) == ["r4", "r3", "r2", "r1", "r0"]
    assert ids_of(await runs.for_thread("t1", limit=2, offset=1)) == ["r3", "r2"]
    assert ids_of(await runs.for_thread("t1", status="success")) == ["r3", "r1"]
    assert await runs.for_thread("t1", status="timeout") == []
    assert await runs.for_thread("nobody") == []


async def test_for_thread_when_runs_created_in_same_instant_then_later_insert_first(
    runs: RunStore,
) -> None:
    for run_id in ["rb", "ra", "rc"]:
        await runs.create(new_run(run_id, "t1", 0))
    assert ids_of(await runs.for_thread("t1")) == ["rc", "ra", "rb"]
    assert ids_of(await runs.active("t1")) == ["rb", "ra", "rc"]


async def test_active_when_mixed_statuses_then_pending_and_running_oldest_first(
    runs: RunStore,
) -> None:
    statuses = ["running", "success", "pending", "error", "pending", "interrupted", "timeout"]
    for i, status in enumerate(statuses):
        await runs.create(new_run(f"r{i}", "t1", i, status=status))
    await runs.create(new_run("elsewhere", "t2", 0, status="pending"))
    assert ids_of(await runs.active("t1")) == ["r0", "r2", "r4"]
    await runs.set_status("r0", "success")
    assert ids_of(await runs.active("t1")) == ["r2", "r4"]


async def test_delete_when_run_exists_then_true_and_gone(runs: RunStore) -> None:
    await runs.create(new_run("r1"))
    assert await runs.delete("r1") is True
    assert await runs.get("r1") is None
    assert await runs.for_thread("t1") == []
    assert await runs.delete("r1") is False


async def test_delete_thread_when_runs_exist_then_all_deleted_and_counted(runs: RunStore) -> None:
    for i in range(3):
        await runs.create(new_run(f"r{i}", "t1", i))
    await runs.create(new_run("keep", "t2", 0))
    assert await runs.delete_thread("t1") == 3
    assert await runs.for_thread("t1") == []
    assert await runs.get("r0") is None
    assert await runs.get("keep") is not None
    assert await runs.delete_thread("t1") == 0


async def test_set_status_when_attempt_given_then_stored_else_kept(runs: RunStore) -> None:
    created = await runs.create(new_run("r1"))
    assert created.attempt == 1
    retried = await runs.set_status("r1", "running", attempt=2)
    assert retried.attempt == 2
    assert (await runs.set_status("r1", "success")).attempt == 2
    stored = await runs.get("r1")
    assert stored is not None
    assert (stored.status, stored.attempt) == ("success", 2)


async def test_all_active_when_runs_on_many_threads_then_active_ones_oldest_first(
    runs: RunStore,
) -> None:
    statuses = ["success", "running", "pending", "error", "pending"]
    for i, status in enumerate(statuses):
        await runs.create(new_run(f"r{i}", f"t{i % 2}", 10 - i, status=status))
    assert ids_of(await runs.all_active()) == ["r4", "r2", "r1"]
    assert ids_of(await runs.all_active(limit=2)) == ["r4", "r2"]


# --- threads: auth filters (app.store.filters) ------------------------------------------

OWNED = {"alice": {"owner": "alice", "team": ["red", "blue"]}, "bob": {"owner": "bob"}}


async def _owned_threads(threads: ThreadStore) -> None:
    for seconds, (thread_id, metadata) in enumerate(OWNED.items()):
        await threads.create(new_thread(thread_id, seconds, metadata=metadata))


@pytest.mark.parametrize(
    ("filters", "visible"),
    [
        ({"owner": "alice"}, ["alice"]),
        ({"owner": {"$eq": "bob"}}, ["bob"]),
        ({"team": {"$contains": "red"}}, ["alice"]),
        ({"team": {"$contains": ["blue", "red"]}}, ["alice"]),
        ({"team": {"$contains": ["red", "green"]}}, []),
        ({"owner": "alice", "team": {"$contains": "blue"}}, ["alice"]),
        ({"owner": "carol"}, []),
        ({"missing": "x"}, []),
        ({"owner": {"$unknown": "alice"}}, []),  # an operator no store knows hides everything
        ({}, ["bob", "alice"]),
    ],
)
async def test_thread_filters_when_reading_then_other_threads_look_missing(
    threads: ThreadStore, filters: dict[str, Any], visible: list[str]
) -> None:
    await _owned_threads(threads)
    assert ids_of(await threads.search(filters=filters)) == visible
    assert await threads.count(filters=filters) == len(visible)
    for thread_id in OWNED:
        found = await threads.get(thread_id, filters=filters)
        assert (found is not None) == (thread_id in visible)


async def test_thread_filters_combine_with_metadata_search_and_paging(
    threads: ThreadStore,
) -> None:
    for i in range(5):
        owner = "alice" if i % 2 == 0 else "bob"
        await threads.create(new_thread(f"t{i}", i, metadata={"owner": owner, "n": i}))
    mine = {"owner": "alice"}
    assert ids_of(await threads.search(filters=mine, limit=2)) == ["t4", "t2"]
    assert ids_of(await threads.search(filters=mine, limit=2, offset=2)) == ["t0"]
    assert ids_of(await threads.search(metadata={"n": 1}, filters=mine)) == []
    assert ids_of(await threads.search(metadata={"owner": "bob"}, filters=mine)) == []
    assert await threads.count(metadata={"n": 2}, filters=mine) == 1
    assert ids_of(await threads.search(ids=["t1", "t2"], filters=mine)) == ["t2"]


async def test_thread_filters_when_writing_then_other_threads_are_untouched(
    threads: ThreadStore,
) -> None:
    await _owned_threads(threads)
    as_alice = {"owner": "alice"}
    with pytest.raises(ThreadNotFound):
        await threads.update("bob", metadata={"owner": "alice"}, filters=as_alice)
    with pytest.raises(ThreadNotFound):
        await threads.update("bob", status="busy", filters=as_alice)
    assert await threads.delete("bob", filters=as_alice) is False
    bob = await threads.get("bob")
    assert bob is not None
    assert bob.metadata == {"owner": "bob"}
    assert bob.status == "idle"
    updated = await threads.update("alice", metadata={"x": 1}, status="busy", filters=as_alice)
    assert updated.metadata == {**OWNED["alice"], "x": 1}
    assert updated.status == "busy"
    assert await threads.delete("alice", filters=as_alice) is True
    assert await threads.get("alice") is None
