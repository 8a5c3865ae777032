"""``SingleTripSqliteSaver``: LangGraph's behaviour unchanged, one worker trip per operation.

The same scenarios also run through the Postgres backend's saver (the
session's schema, ``postgres_url``) and must show what SQLite shows.

Every behavioural test runs the same scenario through a plain
``AsyncSqliteSaver`` and through ``SingleTripSqliteSaver``, each on its own
file, and compares what LangGraph saw. Checkpoint and task ids are time-based,
so observations keep only what both runs must agree on.
"""

from __future__ import annotations

import asyncio
import operator
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Annotated, Any, TypedDict

import aiosqlite
import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple, empty_checkpoint
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, Interrupt, StateSnapshot, interrupt

from app.settings import PostgresSettings, StorageSettings
from app.store import open_storage
from app.store.checkpointer import SingleTripSqliteSaver
from app.store.postgres_pool import PostgresSaver
from app.store.sqlite import connect

Saver = BaseCheckpointSaver[Any]  # what the scenarios need: any LangGraph saver
SaverType = type[AsyncSqliteSaver]
OLD: SaverType = AsyncSqliteSaver
NEW: SaverType = SingleTripSqliteSaver


@asynccontextmanager
async def open_saver(kind: SaverType, path: Path) -> AsyncIterator[AsyncSqliteSaver]:
    async with connect(path) as conn:
        saver = kind(conn)
        await saver.setup()
        yield saver


def on_thread(thread_id: str, **extra: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, **extra}}


# --- graphs ---------------------------------------------------------------


class Log(TypedDict):
    log: Annotated[list[str], operator.add]


def counting_graph(saver: Saver) -> CompiledStateGraph[Log, None, Log, Log]:
    """START → first → second → END, each appending how long the log was."""
    builder = StateGraph(Log)
    builder.add_node("first", lambda s: {"log": [f"first@{len(s['log'])}"]})
    builder.add_node("second", lambda s: {"log": [f"second@{len(s['log'])}"]})
    builder.add_edge(START, "first")
    builder.add_edge("first", "second")
    builder.add_edge("second", END)
    return builder.compile(checkpointer=saver)


def approval_graph(saver: Saver, calls: list[str]) -> CompiledStateGraph[Log, None, Log, Log]:
    """``fast`` and ``ask`` run in one step; ``ask`` interrupts, so ``fast``'s
    output waits as a pending write and must not run again on resume."""

    def fast(state: Log) -> dict[str, Any]:
        calls.append("fast")
        return {"log": ["fast"]}

    def ask(state: Log) -> dict[str, Any]:
        calls.append("ask")
        answer = interrupt({"question": "ok?", "seen": len(state["log"])})
        return {"log": [f"answer={answer}"]}

    builder = StateGraph(Log)
    builder.add_node("fast", fast)
    builder.add_node("ask", ask)
    builder.add_node("done", lambda s: {"log": ["done"]})
    builder.add_edge(START, "fast")
    builder.add_edge(START, "ask")
    builder.add_edge(["fast", "ask"], "done")
    builder.add_edge("done", END)
    return builder.compile(checkpointer=saver)


def _concat(state: list[str] | None, writes: list[list[str]]) -> list[str]:
    return [*(state or []), *(item for write in writes for item in write)]


class DeltaLog(TypedDict):
    log: Annotated[list[str], DeltaChannel(_concat, snapshot_frequency=3)]


def delta_graph(saver: Saver) -> CompiledStateGraph[DeltaLog, None, DeltaLog, DeltaLog]:
    builder = StateGraph(DeltaLog)
    builder.add_node("note", lambda s: {"log": [f"note@{len(s['log'])}"]})
    builder.add_edge(START, "note")
    builder.add_edge("note", END)
    return builder.compile(checkpointer=saver)


# --- observations without ids ---------------------------------------------


def plain(value: Any) -> Any:
    if isinstance(value, Interrupt):
        return ("interrupt", plain(value.value))
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


def seen_snapshot(snapshot: StateSnapshot) -> dict[str, Any]:
    metadata = snapshot.metadata or {}
    return {
        "values": snapshot.values,
        "next": snapshot.next,
        "source": metadata.get("source"),
        "step": metadata.get("step"),
        "has_parent": snapshot.parent_config is not None,
        "tasks": sorted(
            (task.name, plain(task.result), plain(list(task.interrupts))) for task in snapshot.tasks
        ),
        "interrupts": plain(list(snapshot.interrupts)),
    }


def seen_tuple(found: CheckpointTuple | None) -> dict[str, Any] | None:
    if found is None:
        return None
    return {
        "values": plain(found.checkpoint["channel_values"]),
        "step": found.metadata.get("step"),
        "source": found.metadata.get("source"),
        "writes": sorted(
            ((channel, plain(value)) for _, channel, value in found.pending_writes or []), key=repr
        ),
    }


async def history(
    graph: CompiledStateGraph[Any, None, Any, Any], config: RunnableConfig, **options: Any
) -> list[dict[str, Any]]:
    return [seen_snapshot(s) async for s in graph.aget_state_history(config, **options)]


# --- the scenario, run through each saver ---------------------------------


async def reducer_scenario(saver: Saver) -> list[Any]:
    graph = counting_graph(saver)
    seen: list[Any] = []
    for n in range(3):
        seen.append(await graph.ainvoke({"log": [f"in{n}"]}, on_thread("t")))
    await graph.ainvoke({"log": ["elsewhere"]}, on_thread("other"))
    seen.append(seen_snapshot(await graph.aget_state(on_thread("t"))))
    everything = [s async for s in graph.aget_state_history(on_thread("t"))]
    seen.append([seen_snapshot(s) for s in everything])
    seen.append(await history(graph, on_thread("t"), limit=2))
    seen.append(await history(graph, on_thread("t"), before=everything[3].config, limit=3))
    seen.append(await history(graph, on_thread("t"), filter={"source": "input"}))
    seen.append(await history(graph, on_thread("t"), filter={"step": 1}))
    older = everything[4].config
    seen.append(seen_snapshot(await graph.aget_state(older)))
    seen.append(seen_tuple(await saver.aget_tuple(older)))
    return seen


async def interrupt_scenario(saver: Saver) -> list[Any]:
    calls: list[str] = []
    graph = approval_graph(saver, calls)
    seen: list[Any] = [plain(await graph.ainvoke({"log": ["start"]}, on_thread("t")))]
    seen.append(seen_snapshot(await graph.aget_state(on_thread("t"))))
    seen.append(seen_tuple(await saver.aget_tuple(on_thread("t", checkpoint_ns=""))))
    seen.append(list(calls))
    seen.append(await graph.ainvoke(Command(resume="yes"), on_thread("t")))
    seen.append(list(calls))
    seen.append(seen_snapshot(await graph.aget_state(on_thread("t"))))
    seen.append(await history(graph, on_thread("t")))
    return seen


async def delete_scenario(saver: Saver) -> list[Any]:
    graph = counting_graph(saver)
    await graph.ainvoke({"log": ["a"]}, on_thread("gone"))
    await graph.ainvoke({"log": ["b"]}, on_thread("kept"))
    await saver.adelete_thread("gone")
    return [
        seen_snapshot(await graph.aget_state(on_thread("gone"))),
        await history(graph, on_thread("gone")),
        seen_snapshot(await graph.aget_state(on_thread("kept"))),
        len(await history(graph, on_thread("kept"))),
        await graph.ainvoke({"log": ["again"]}, on_thread("gone")),
    ]


async def delta_scenario(saver: Saver) -> list[Any]:
    graph = delta_graph(saver)
    for n in range(5):
        await graph.ainvoke({"log": [f"in{n}"]}, on_thread("t"))
    return [
        seen_snapshot(await graph.aget_state(on_thread("t"))),
        await history(graph, on_thread("t"), limit=4),
    ]


Scenario = Callable[[Saver], Awaitable[list[Any]]]


async def observe(kind: SaverType, path: Path, scenario: Scenario) -> list[Any]:
    async with open_saver(kind, path) as saver:
        return await scenario(saver)


@pytest.mark.parametrize(
    "scenario",
    [reducer_scenario, interrupt_scenario, delete_scenario, delta_scenario],
    ids=["reducer-history", "interrupt-resume", "delete-thread", "delta-channel"],
)
async def test_single_trip_saver_when_graph_runs_then_langgraph_sees_what_async_saver_shows(
    scenario: Scenario, tmp_path: Path
) -> None:
    expected = await observe(OLD, tmp_path / "old.sqlite", scenario)
    assert await observe(NEW, tmp_path / "new.sqlite", scenario) == expected


async def test_single_trip_saver_when_reducer_graph_runs_then_state_and_history_are_right(
    tmp_path: Path,
) -> None:
    seen = await observe(NEW, tmp_path / "db.sqlite", reducer_scenario)
    latest, everything, last_two, before, inputs, step_one = seen[3:9]
    assert latest["values"] == {
        "log": [
            "in0",
            "first@1",
            "second@2",
            "in1",
            "first@4",
            "second@5",
            "in2",
            "first@7",
            "second@8",
        ]
    }
    assert len(everything) == 12  # 3 invocations x (input, loop, loop, loop)
    assert last_two == everything[:2]
    assert before == everything[4:7]
    assert [s["source"] for s in inputs] == ["input"] * 3
    assert [s["step"] for s in step_one] == [1]  # steps go on counting across invocations


async def test_single_trip_saver_when_node_interrupts_then_pending_writes_survive_resume(
    tmp_path: Path,
) -> None:
    seen = await observe(NEW, tmp_path / "db.sqlite", interrupt_scenario)
    first, paused, saved, calls_paused, resumed, calls_resumed = seen[:6]
    assert first["__interrupt__"] == [("interrupt", {"question": "ok?", "seen": 1})]
    assert paused["next"] == ("ask",)
    assert ("log", ["fast"]) in saved["writes"]
    assert sorted(calls_paused) == ["ask", "fast"]
    assert resumed == {"log": ["start", "answer=yes", "fast", "done"]}
    assert sorted(calls_resumed) == ["ask", "ask", "fast"]  # fast's write was reused


async def test_single_trip_saver_when_writes_put_directly_then_tuple_and_list_return_them(
    tmp_path: Path,
) -> None:
    async with open_saver(NEW, tmp_path / "db.sqlite") as saver:
        checkpoint = empty_checkpoint()
        saved = await saver.aput(
            on_thread("t", checkpoint_ns=""), checkpoint, {"source": "input", "step": -1}, {}
        )
        await saver.aput_writes(saved, [("log", "b1"), ("log", "b2")], "task-b")
        await saver.aput_writes(saved, [("log", "a1")], "task-a", "~path")
        found = await saver.aget_tuple(saved)
        listed = [t async for t in saver.alist(on_thread("t"))]
    assert found is not None
    assert found.checkpoint["id"] == checkpoint["id"]
    assert found.pending_writes == [
        ("task-b", "log", "b1"),
        ("task-b", "log", "b2"),
        ("task-a", "log", "a1"),
    ]
    assert [t.pending_writes for t in listed] == [found.pending_writes]


async def test_single_trip_saver_when_writes_issued_together_then_committed_once_on_return(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite"
    async with open_saver(NEW, path) as saver:
        assert isinstance(saver, SingleTripSqliteSaver)
        statements: list[str] = []  # traced on the worker thread, as SQLite runs them
        await saver.conn.set_trace_callback(statements.append)
        configs = [on_thread(f"t{n}", checkpoint_ns="") for n in range(3)]
        with trips_counted(saver.conn) as trips:
            await asyncio.gather(
                *(saver.aput(c, empty_checkpoint(), {"step": -1}, {}) for c in configs)
            )
            # Returned: committed, so another connection sees all three.
            with sqlite3.connect(path) as other:
                stored = other.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0]
    assert stored == 3
    assert trips == [1]
    # One commit for the three: SqliteSaver's own, one per write, is left to the trip.
    assert [sql for sql in statements if sql.strip().upper() == "COMMIT"] == ["COMMIT"]


# --- files are interchangeable --------------------------------------------


@pytest.mark.parametrize(("writer", "reader"), [(OLD, NEW), (NEW, OLD)], ids=["old-new", "new-old"])
async def test_sqlite_file_when_written_by_one_saver_then_other_reads_and_continues_it(
    writer: SaverType, reader: SaverType, tmp_path: Path
) -> None:
    path = tmp_path / "db.sqlite"
    calls: list[str] = []
    async with open_saver(writer, path) as saver:
        counting = counting_graph(saver)
        await counting.ainvoke({"log": ["a"]}, on_thread("plain"))
        approval = approval_graph(saver, calls)
        await approval.ainvoke({"log": ["start"]}, on_thread("paused"))
        written = [
            seen_snapshot(await counting.aget_state(on_thread("plain"))),
            await history(counting, on_thread("plain")),
            seen_snapshot(await approval.aget_state(on_thread("paused"))),
            seen_tuple(await saver.aget_tuple(on_thread("paused", checkpoint_ns=""))),
        ]
    async with open_saver(reader, path) as saver:
        counting = counting_graph(saver)
        approval = approval_graph(saver, calls)
        read = [
            seen_snapshot(await counting.aget_state(on_thread("plain"))),
            await history(counting, on_thread("plain")),
            seen_snapshot(await approval.aget_state(on_thread("paused"))),
            seen_tuple(await saver.aget_tuple(on_thread("paused", checkpoint_ns=""))),
        ]
        assert read == written
        resumed = await approval.ainvoke(Command(resume="yes"), on_thread("paused"))
        more = await counting.ainvoke({"log": ["b"]}, on_thread("plain"))
    assert resumed == {"log": ["start", "answer=yes", "fast", "done"]}
    assert sorted(calls) == ["ask", "ask", "fast"]
    assert more == {"log": ["a", "first@1", "second@2", "b", "first@4", "second@5"]}


# --- one trip per operation -----------------------------------------------


@contextmanager
def trips_counted(conn: aiosqlite.Connection) -> Iterator[list[int]]:
    """Count calls of aiosqlite's one entry to its worker thread, ``_execute``."""
    count = [0]
    original: Callable[..., Awaitable[Any]] = conn._execute

    async def counting(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return await original(*args, **kwargs)

    conn._execute = counting  # type: ignore[method-assign]
    try:
        yield count
    finally:
        del conn._execute


Operation = Callable[[AsyncSqliteSaver, RunnableConfig], Awaitable[object]]


async def _list_all(saver: AsyncSqliteSaver, config: RunnableConfig) -> object:
    return [t async for t in saver.alist(on_thread("t"))]


OPERATIONS: dict[str, Operation] = {
    "aget_tuple-latest": lambda saver, _: saver.aget_tuple(on_thread("t")),
    "aget_tuple-by-id": lambda saver, config: saver.aget_tuple(config),
    "alist": _list_all,
    "alist-filtered": lambda saver, config: _drain(
        saver.alist(None, filter={"source": "loop"}, before=config, limit=2)
    ),
    "aput": lambda saver, config: saver.aput(
        config, empty_checkpoint(), {"source": "update", "step": 9}, {}
    ),
    "aput_writes": lambda saver, config: saver.aput_writes(config, [("log", ["x"])], "task"),
    "aget_delta_channel_history": lambda saver, config: saver.aget_delta_channel_history(
        config=config, channels=["log"]
    ),
    "adelete_thread": lambda saver, _: saver.adelete_thread("t"),
}


async def _drain(items: AsyncIterator[CheckpointTuple]) -> list[CheckpointTuple]:
    return [item async for item in items]


@pytest.mark.parametrize("name", OPERATIONS)
async def test_single_trip_saver_when_operation_runs_then_it_costs_one_worker_trip(
    name: str, tmp_path: Path
) -> None:
    async with connect(tmp_path / "db.sqlite") as conn:
        saver = SingleTripSqliteSaver(conn)
        with trips_counted(conn) as setup_trips:
            await saver.setup()
        graph = delta_graph(saver)
        for n in range(4):
            await graph.ainvoke({"log": [f"in{n}"]}, on_thread("t"))
        latest = await saver.aget_tuple(on_thread("t"))
        assert latest is not None
        with trips_counted(conn) as trips:
            await OPERATIONS[name](saver, latest.config)
    assert setup_trips == [1]
    assert trips == [1]


@contextmanager
def calls_counted(saver: AsyncSqliteSaver) -> Iterator[dict[str, int]]:
    """Count calls of the saver's async operations, by name."""
    counts: dict[str, int] = {}

    def counted(name: str) -> Callable[..., Any]:
        method = getattr(saver, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            counts[name] = counts.get(name, 0) + 1
            return method(*args, **kwargs)

        return call

    names = ["aget_tuple", "alist", "aput", "aput_writes", "aget_delta_channel_history"]
    for name in names:
        setattr(saver, name, counted(name))
    try:
        yield counts
    finally:
        for name in names:
            delattr(saver, name)


@pytest.mark.parametrize("graph_of", [counting_graph, delta_graph], ids=["plain", "delta"])
async def test_single_trip_saver_when_graph_runs_then_at_most_one_trip_per_saver_call(
    graph_of: Callable[[AsyncSqliteSaver], CompiledStateGraph[Any, None, Any, Any]],
    tmp_path: Path,
) -> None:
    async with connect(tmp_path / "db.sqlite") as conn:
        saver = SingleTripSqliteSaver(conn)
        await saver.setup()
        graph = graph_of(saver)
        with calls_counted(saver) as calls, trips_counted(conn) as trips:
            for n in range(3):
                await graph.ainvoke({"log": [f"in{n}"]}, on_thread("t"))
            await graph.aget_state(on_thread("t"))
            await _drain_history(graph, on_thread("t"))
    # One trip per operation at most: LangGraph issues a step's checkpoint
    # and its writes concurrently, and concurrent writes share a trip.
    assert 0 < trips[0] <= sum(calls.values())
    assert calls["aput"] >= 6


async def _drain_history(
    graph: CompiledStateGraph[Any, None, Any, Any], config: RunnableConfig
) -> None:
    async for _ in graph.aget_state_history(config):
        pass


async def test_compiled_graph_when_state_read_then_saver_serves_it_from_aget_tuple_alone(
    tmp_path: Path,
) -> None:
    # aget_state reads one aget_tuple; only a DeltaChannel adds an
    # aget_delta_channel_history, to rebuild the channel from its writes.
    async with connect(tmp_path / "db.sqlite") as conn:
        saver = SingleTripSqliteSaver(conn)
        await saver.setup()
        plain_graph, deltas = counting_graph(saver), delta_graph(saver)
        await plain_graph.ainvoke({"log": ["a"]}, on_thread("plain"))
        await deltas.ainvoke({"log": ["a"]}, on_thread("delta"))
        with calls_counted(saver) as plain_calls, trips_counted(conn) as plain_trips:
            await plain_graph.aget_state(on_thread("plain"))
        with calls_counted(saver) as delta_calls, trips_counted(conn) as delta_trips:
            await deltas.aget_state(on_thread("delta"))
    assert (plain_calls, plain_trips) == ({"aget_tuple": 1}, [1])
    assert (delta_calls, delta_trips) == ({"aget_tuple": 1, "aget_delta_channel_history": 1}, [2])


async def test_single_trip_saver_when_called_sync_from_another_thread_then_bridges_to_loop(
    tmp_path: Path,
) -> None:
    async with open_saver(NEW, tmp_path / "db.sqlite") as saver:
        await counting_graph(saver).ainvoke({"log": ["a"]}, on_thread("t"))
        expected = await saver.aget_tuple(on_thread("t"))
        found = await asyncio.to_thread(saver.get_tuple, on_thread("t"))
    assert found == expected


async def test_open_storage_when_sqlite_then_checkpointer_is_single_trip(tmp_path: Path) -> None:
    async with open_storage(StorageSettings(backend="sqlite"), tmp_path / "db.sqlite") as storage:
        assert isinstance(storage.checkpointer, SingleTripSqliteSaver)


async def test_latest_id_when_thread_has_checkpoints_then_same_as_aget_tuple(
    tmp_path: Path,
) -> None:
    async with connect(tmp_path / "db.sqlite") as conn:
        saver = SingleTripSqliteSaver(conn)
        await saver.setup()
        assert await saver.alatest_id("t") is None
        graph = counting_graph(saver)
        for n in range(3):
            await graph.ainvoke({"log": [f"in{n}"]}, on_thread("t"))
            await graph.ainvoke({"log": ["other"]}, on_thread("u"))
            latest = await saver.aget_tuple(on_thread("t"))
            assert latest is not None
            with trips_counted(conn) as trips:
                found = await saver.alatest_id("t")
            assert found == latest.config["configurable"]["checkpoint_id"]
            assert trips == [1]
        assert await saver.alatest_id("nobody") is None


# --- the Postgres backend's saver shows the same ---------------------------


@asynccontextmanager
async def open_postgres_saver(url: str) -> AsyncIterator[PostgresSaver]:
    """The "postgres" storage's saver on empty checkpoint tables."""
    settings = StorageSettings(backend="postgres")
    async with open_storage(settings, Path("unused"), PostgresSettings(url=url)) as storage:
        assert storage.postgres is not None
        async with storage.postgres.pool.connection() as conn:
            await conn.execute("TRUNCATE checkpoints, checkpoint_blobs, checkpoint_writes")
        assert isinstance(storage.checkpointer, PostgresSaver)
        yield storage.checkpointer


@pytest.mark.parametrize(
    "scenario",
    [reducer_scenario, interrupt_scenario, delete_scenario, delta_scenario],
    ids=["reducer-history", "interrupt-resume", "delete-thread", "delta-channel"],
)
async def test_postgres_saver_when_graph_runs_then_langgraph_sees_what_sqlite_shows(
    scenario: Scenario, tmp_path: Path, postgres_url: str
) -> None:
    expected = await observe(OLD, tmp_path / "old.sqlite", scenario)
    async with open_postgres_saver(postgres_url) as saver:
        assert await scenario(saver) == expected


async def test_postgres_latest_id_when_thread_has_checkpoints_then_same_as_aget_tuple(
    postgres_url: str,
) -> None:
    async with open_postgres_saver(postgres_url) as saver:
        assert await saver.alatest_id("t") is None
        graph = counting_graph(saver)
        for n in range(3):
            await graph.ainvoke({"log": [f"in{n}"]}, on_thread("t"))
            await graph.ainvoke({"log": ["other"]}, on_thread("u"))
            latest = await saver.aget_tuple(on_thread("t"))
            assert latest is not None
            assert await saver.alatest_id("t") == latest.config["configurable"]["checkpoint_id"]
        assert await saver.alatest_id("nobody") is None
