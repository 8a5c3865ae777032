"""``open_storage``: stores and checkpointer opened together, and what survives a restart."""

from __future__ import annotations

import asyncio
import operator
import sqlite3
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from app.settings import StorageSettings
from app.store import Run, Storage, Thread, open_storage

SQLITE = StorageSettings(backend="sqlite")
MEMORY = StorageSettings(backend="memory")


class Trail(TypedDict):
    steps: Annotated[list[str], operator.add]


def visit(state: Trail) -> dict[str, Any]:
    return {"steps": [f"visit {len(state['steps'])}"]}


def compiled(storage: Storage) -> CompiledStateGraph[Trail, None, Trail, Trail]:
    builder = StateGraph(Trail)
    builder.add_node("visit", visit)
    builder.add_edge(START, "visit")
    builder.add_edge("visit", END)
    return builder.compile(checkpointer=storage.checkpointer)


def on_thread(thread_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id}}


@pytest.mark.parametrize("settings", [MEMORY, SQLITE], ids=["memory", "sqlite"])
async def test_open_storage_when_graph_uses_checkpointer_then_state_accumulates_per_thread(
    settings: StorageSettings, tmp_path: Path
) -> None:
    async with open_storage(settings, tmp_path / "db.sqlite") as storage:
        graph = compiled(storage)
        await graph.ainvoke({"steps": ["start"]}, on_thread("a"))
        await graph.ainvoke({"steps": ["again"]}, on_thread("a"))
        await graph.ainvoke({"steps": ["other"]}, on_thread("b"))
        state_a = await graph.aget_state(on_thread("a"))
        state_b = await graph.aget_state(on_thread("b"))
    assert state_a.values == {"steps": ["start", "visit 1", "again", "visit 3"]}
    assert state_b.values == {"steps": ["other", "visit 1"]}


async def test_open_storage_when_memory_backend_then_no_file_written(tmp_path: Path) -> None:
    target = tmp_path / "never" / "db.sqlite"
    async with open_storage(MEMORY, target) as storage:
        await storage.threads.create(Thread(thread_id="t1"))
        assert await storage.threads.get("t1") is not None
    assert not target.parent.exists()


async def test_open_storage_when_sqlite_reopened_then_threads_runs_and_checkpoints_survive(
    tmp_path: Path,
) -> None:
    target = tmp_path / "nested" / "dirs" / "switchyard.db"
    async with open_storage(SQLITE, target) as storage:
        thread = await storage.threads.create(Thread(thread_id="t1", metadata={"graph": "ü"}))
        thread = await storage.threads.update("t1", status="busy", values={"steps": ["x"]})
        run = await storage.runs.create(Run(run_id="r1", thread_id="t1", assistant_id="a"))
        run = await storage.runs.set_status("r1", "success")
        await compiled(storage).ainvoke({"steps": ["start"]}, on_thread("t1"))

    async with open_storage(SQLITE, target) as reopened:
        assert await reopened.threads.get("t1") == thread
        assert await reopened.runs.get("r1") == run
        assert await reopened.runs.for_thread("t1") == [run]
        graph = compiled(reopened)
        assert (await graph.aget_state(on_thread("t1"))).values == {"steps": ["start", "visit 1"]}
        await graph.ainvoke({"steps": ["resumed"]}, on_thread("t1"))
        state = await graph.aget_state(on_thread("t1"))
    assert state.values == {"steps": ["start", "visit 1", "resumed", "visit 3"]}


async def test_open_storage_when_sqlite_then_file_in_wal_mode(tmp_path: Path) -> None:
    target = tmp_path / "wal.db"
    async with open_storage(SQLITE, target):
        pass
    with sqlite3.connect(target) as probe:
        (mode,) = probe.execute("PRAGMA journal_mode").fetchone()
    probe.close()
    assert mode == "wal"


async def test_open_storage_when_stores_and_graphs_write_concurrently_then_all_writes_land(
    tmp_path: Path,
) -> None:
    # The stores and the checkpointer share one connection; interleaving their
    # writes must neither raise "database is locked" nor lose a commit.
    target = tmp_path / "busy.db"

    async def one_conversation(storage: Storage, i: int) -> None:
        thread_id = f"t{i}"
        await storage.threads.create(Thread(thread_id=thread_id))
        await storage.runs.create(Run(run_id=f"r{i}", thread_id=thread_id, assistant_id="a"))
        await storage.runs.set_status(f"r{i}", "running")
        await compiled(storage).ainvoke({"steps": [thread_id]}, on_thread(thread_id))
        await storage.threads.update(thread_id, metadata={"done": True}, status="idle")
        await storage.runs.set_status(f"r{i}", "success")

    async with open_storage(SQLITE, target) as storage:
        await asyncio.gather(*(one_conversation(storage, i) for i in range(30)))

    async with open_storage(SQLITE, target) as reopened:
        assert await reopened.threads.count(metadata={"done": True}) == 30
        for i in range(30):
            run = await reopened.runs.get(f"r{i}", thread_id=f"t{i}")
            assert run is not None
            assert run.status == "success"
            state = await compiled(reopened).aget_state(on_thread(f"t{i}"))
            assert state.values == {"steps": [f"t{i}", "visit 1"]}


async def test_open_storage_when_sqlite_file_predates_attempts_then_runs_get_attempt_1(
    tmp_path: Path,
) -> None:
    target = tmp_path / "old.db"
    with sqlite3.connect(target) as old:  # the runs table as it was before attempts
        old.execute(
            "CREATE TABLE runs (run_id TEXT PRIMARY KEY, thread_id TEXT NOT NULL,"
            " assistant_id TEXT NOT NULL, created_at INTEGER NOT NULL,"
            " updated_at INTEGER NOT NULL, status TEXT NOT NULL, metadata TEXT NOT NULL,"
            " multitask_strategy TEXT NOT NULL, kwargs TEXT NOT NULL)"
        )
        old.execute(
            "INSERT INTO runs VALUES ('r1', 't1', 'a', 0, 0, 'running', '{}', 'enqueue', '{}')"
        )
    old.close()
    async with open_storage(SQLITE, target) as storage:
        found = await storage.runs.get("r1")
        assert found is not None
        assert (found.status, found.attempt) == ("running", 1)
        assert (await storage.runs.set_status("r1", "running", attempt=2)).attempt == 2
