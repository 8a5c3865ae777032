"""The Postgres backend beyond the store contract: restarts, several processes'
pools on one schema, dropped connections, data Postgres refuses, settings."""

from __future__ import annotations

import asyncio
import operator
import os
import resource
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import psycopg
import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from pydantic import ValidationError

from app.errors import InvalidInput
from app.settings import PostgresSettings, Settings, StorageSettings
from app.store import Run, Storage, Thread, open_storage

POSTGRES = StorageSettings(backend="postgres")


class Trail(TypedDict):
    steps: Annotated[list[str], operator.add]


def on_thread(thread_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id}}


async def visited(storage: Storage, thread_id: str, step: str) -> dict[str, Any]:
    builder = StateGraph(Trail)
    builder.add_node("visit", lambda state: {"steps": [f"visit {len(state['steps'])}"]})
    builder.add_edge(START, "visit")
    builder.add_edge("visit", END)
    graph = builder.compile(checkpointer=storage.checkpointer)
    await graph.ainvoke({"steps": [step]}, on_thread(thread_id))
    return (await graph.aget_state(on_thread(thread_id))).values


def _opened(url: str, **pool: Any) -> Any:
    return open_storage(POSTGRES, Path("unused"), PostgresSettings(url=url, **pool))


@pytest.fixture
async def storage(postgres_url: str) -> AsyncIterator[Storage]:
    async with _opened(postgres_url) as opened:
        assert opened.postgres is not None
        async with opened.postgres.pool.connection() as conn:
            await conn.execute(
                "TRUNCATE threads, runs, checkpoints, checkpoint_blobs, checkpoint_writes"
            )
        yield opened


async def test_open_storage_when_postgres_reopened_then_threads_runs_and_checkpoints_survive(
    storage: Storage, postgres_url: str
) -> None:
    thread = await storage.threads.create(Thread(thread_id="t1", metadata={"graph": "ü"}))
    thread = await storage.threads.update("t1", status="busy", values={"steps": ["x"]})
    run = await storage.runs.create(Run(run_id="r1", thread_id="t1", assistant_id="a"))
    run = await storage.runs.set_status("r1", "success")
    await visited(storage, "t1", "start")
    async with _opened(postgres_url) as reopened:  # another process, as far as Postgres knows
        assert await reopened.threads.get("t1") == thread
        assert await reopened.runs.for_thread("t1") == [run]
        assert await visited(reopened, "t1", "again") == {
            "steps": ["start", "visit 1", "again", "visit 3"]
        }


async def test_pools_when_two_instances_merge_metadata_concurrently_then_no_key_lost(
    storage: Storage, postgres_url: str
) -> None:
    await storage.threads.create(Thread(thread_id="t1"))
    async with _opened(postgres_url) as other:
        await asyncio.gather(
            *(
                (storage if i % 2 else other).threads.update("t1", metadata={f"k{i}": i})
                for i in range(40)
            )
        )
    stored = await storage.threads.get("t1")
    assert stored is not None
    assert stored.metadata == {f"k{i}": i for i in range(40)}


async def test_pool_when_server_drops_its_connections_then_next_calls_still_work(
    postgres_url: str,
) -> None:
    async with _opened(postgres_url, pool_min=2, pool_max=2) as storage:
        assert storage.postgres is not None
        pool = storage.postgres.pool
        await storage.threads.create(Thread(thread_id="dropped"))
        async with pool.connection() as first, pool.connection() as second:
            pids = [first.info.backend_pid, second.info.backend_pid]
        # What a Postgres restart or failover does to every open connection
        # (waiting until they are gone, as a restart has closed them all before
        # it accepts the next connection).
        admin = await psycopg.AsyncConnection.connect(postgres_url, autocommit=True)
        async with admin:
            kill = "SELECT pg_terminate_backend(pid, 5000) FROM unnest(%s::int[]) pid"
            await admin.execute(kill, (pids,))
        for _ in range(5):
            assert await storage.threads.get("dropped") is not None
        await storage.threads.delete("dropped")


async def test_create_when_json_holds_nul_character_then_invalid_input(storage: Storage) -> None:
    with pytest.raises(InvalidInput, match="Postgres cannot store"):
        await storage.threads.create(Thread(thread_id="t1", metadata={"bad": "a\u0000b"}))
    assert await storage.threads.get("t1") is None


def test_settings_when_postgres_backend_without_url_then_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SWITCHYARD_STORAGE_BACKEND", "postgres")
    monkeypatch.delenv("SWITCHYARD_POSTGRES_URL", raising=False)
    with pytest.raises(ValidationError, match="SWITCHYARD_POSTGRES_URL"):
        Settings()
    monkeypatch.setenv("SWITCHYARD_POSTGRES_URL", "postgresql://db/switchyard")
    monkeypatch.setenv("SWITCHYARD_POSTGRES_POOL_MAX", "7")
    settings = Settings()
    assert settings.storage.backend == "postgres"
    assert settings.postgres.url is not None
    assert settings.postgres.url.get_secret_value() == "postgresql://db/switchyard"
    assert settings.postgres.pool_max == 7


async def test_checkpointer_when_one_call_holds_a_connection_then_others_do_not_wait(
    storage: Storage,
) -> None:
    assert storage.postgres is not None
    saver = storage.postgres.checkpointer
    # LangGraph's saver serialises every call of the process on one lock; on a
    # pool that only queues runs behind each other. While one call is inside
    # its cursor, another must get a connection of its own and finish.
    async with saver._cursor() as held:
        await held.execute("SELECT 1")
        latest = await asyncio.wait_for(saver.alatest_id("no-such-thread"), 10)
    assert latest is None


async def test_pool_when_connections_have_descriptors_past_1024_then_they_are_kept(
    postgres_url: str,
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < 2048")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2048), hard))
    # What a server holding thousands of streams looks like to the pool.
    filler = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        async with _opened(postgres_url, pool_min=2, pool_max=2) as storage:
            assert storage.postgres is not None
            pids = []
            for _ in range(6):
                async with storage.postgres.pool.connection() as conn:
                    assert conn.fileno() > 1024
                    pids.append(conn.info.backend_pid)
            assert len(set(pids)) <= 2  # checked and kept, not replaced at every checkout
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
