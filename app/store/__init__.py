"""Persistence: thread and run stores plus the LangGraph checkpointer, opened together.

``open_storage`` is the one way the server gets its storage. The three parts
are opened as a bundle because, on SQLite, they must share one connection:

    settings.storage.backend == "memory"
        MemoryThreadStore + MemoryRunStore + langgraph InMemorySaver
    settings.storage.backend == "sqlite"
        one aiosqlite connection (WAL, synchronous=NORMAL), one SqliteTrips
        ├── SingleTripSqliteSaver  tables checkpoints, writes
        ├── SqliteThreadStore      table threads
        ├── SqliteRunStore         table runs
        ├── SqliteAssistantStore   tables assistants, assistant_versions
        ├── SqliteThreadTTLStore   table thread_ttl
        ├── SqliteCronStore        table crons
        └── SqliteFlowStore        table flows (flow documents, one row per version)
    settings.storage.backend == "postgres"   (the ``distributed`` extra)
        one psycopg pool, schema migrated at startup (``app.store.postgres_pool``)
        ├── PostgresSaver          LangGraph's AsyncPostgresSaver tables
        ├── PostgresThreadStore    table threads
        ├── PostgresRunStore       table runs
        ├── PostgresAssistantStore tables assistants, assistant_versions
        ├── PostgresThreadTTLStore table thread_ttl
        ├── PostgresCronStore      table crons (a tick is claimed by one instance)
        └── PostgresFlowStore      table flows
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver

from app.settings import PostgresSettings, StorageSettings
from app.store import sqlite
from app.store.assistants import AssistantStore, MemoryAssistantStore
from app.store.assistants_sqlite import SqliteAssistantStore
from app.store.base import (
    ACTIVE_RUN_STATUSES,
    MultitaskStrategy,
    Run,
    RunStatus,
    RunStore,
    Thread,
    ThreadStatus,
    ThreadStore,
)
from app.store.checkpointer import SingleTripSqliteSaver
from app.store.crons import CronStore, MemoryCronStore
from app.store.crons_sqlite import SqliteCronStore
from app.store.flows import FlowStore, MemoryFlowStore
from app.store.flows_sqlite import SqliteFlowStore
from app.store.memory import MemoryRunStore, MemoryThreadStore
from app.store.sqlite import SqliteRunStore, SqliteThreadStore
from app.store.sqlite_trips import SqliteTrips
from app.store.thread_ttl import MemoryThreadTTLStore, SqliteThreadTTLStore, ThreadTTLStore

if TYPE_CHECKING:
    from app.store.postgres_pool import PostgresBackend

__all__ = [
    "ACTIVE_RUN_STATUSES",
    "AssistantStore",
    "MemoryRunStore",
    "MemoryThreadStore",
    "MultitaskStrategy",
    "Run",
    "RunStatus",
    "RunStore",
    "SqliteRunStore",
    "SqliteThreadStore",
    "Storage",
    "Thread",
    "ThreadStatus",
    "ThreadStore",
    "open_storage",
]


@dataclass(frozen=True)
class Storage:
    """Everything persistent the server needs, valid while ``open_storage`` is open."""

    threads: ThreadStore
    runs: RunStore
    checkpointer: BaseCheckpointSaver[Any]
    # Reads the id of a thread's latest checkpoint without loading it, where
    # the backend can (SQLite, Postgres); otherwise ``aget_tuple`` answers.
    latest_id_reader: Callable[[str, str], Awaitable[str | None]] | None = None
    # The pool and saver when the backend is "postgres" (the coordinator shares them).
    postgres: PostgresBackend | None = None
    # Assistants and their versions (app.store.assistants); see the module docstring.
    assistants: AssistantStore = field(default_factory=MemoryAssistantStore)
    # When each thread with a TTL is due (app.store.thread_ttl).
    thread_ttls: ThreadTTLStore = field(default_factory=MemoryThreadTTLStore)
    # Crons and the tick each fires next (app.store.crons).
    crons: CronStore = field(default_factory=MemoryCronStore)
    # Flow documents and their versions (``app.store.flows``).
    flows: FlowStore = field(default_factory=MemoryFlowStore)

    async def latest_checkpoint_id(self, thread_id: str, checkpoint_ns: str = "") -> str | None:
        """The id of the thread's latest checkpoint; the run path never asks which saver."""
        if self.latest_id_reader is not None:
            return await self.latest_id_reader(thread_id, checkpoint_ns)
        config: Any = {"configurable": {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns}}
        saved = await self.checkpointer.aget_tuple(config)
        checkpoint_id = saved.config["configurable"].get("checkpoint_id") if saved else None
        return str(checkpoint_id) if checkpoint_id else None

    async def delete_thread(self, thread_id: str) -> None:
        """A thread and everything stored for it: runs, checkpoints and writes."""
        await self.runs.delete_thread(thread_id)
        await self.threads.delete(thread_id)
        await self.checkpointer.adelete_thread(thread_id)


@asynccontextmanager
async def open_storage(
    settings: StorageSettings, sqlite_file: Path, postgres: PostgresSettings | None = None
) -> AsyncIterator[Storage]:
    """Open the storage ``settings`` asks for; close it on exit.

    ``sqlite_file`` (usually ``Settings.sqlite_file``) is used only by the
    "sqlite" backend, which creates its parent directory and the tables if
    missing. Re-opening the same file finds every thread, run and checkpoint
    written before. ``postgres`` (``Settings.postgres``) is used only by the
    "postgres" backend, which migrates the schema before it yields.
    """
    if settings.backend == "postgres":
        # Imported here: psycopg is an optional dependency (the ``distributed`` extra).
        from app.store.assistants_postgres import PostgresAssistantStore
        from app.store.crons_postgres import PostgresCronStore
        from app.store.flows_postgres import PostgresFlowStore
        from app.store.postgres import PostgresRunStore, PostgresThreadStore
        from app.store.postgres_pool import open_postgres
        from app.store.thread_ttl_postgres import PostgresThreadTTLStore

        async with open_postgres(postgres or PostgresSettings()) as backend:
            yield Storage(
                threads=PostgresThreadStore(backend.pool),
                runs=PostgresRunStore(backend.pool),
                checkpointer=backend.checkpointer,
                latest_id_reader=backend.checkpointer.alatest_id,
                postgres=backend,
                flows=PostgresFlowStore(backend.pool),
                assistants=PostgresAssistantStore(backend.pool),
                thread_ttls=PostgresThreadTTLStore(backend.pool),
                crons=PostgresCronStore(backend.pool),
            )
        return
    if settings.backend == "memory":
        yield Storage(
            threads=MemoryThreadStore(),
            runs=MemoryRunStore(),
            checkpointer=InMemorySaver(),
            assistants=MemoryAssistantStore(),
            flows=MemoryFlowStore(),
        )
        return
    sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    async with sqlite.connect(sqlite_file) as conn:
        trips = SqliteTrips(conn)  # one for all: their units share trips and commits
        checkpointer = SingleTripSqliteSaver(conn, trips=trips)
        await checkpointer.setup()
        threads, runs = SqliteThreadStore(conn, trips), SqliteRunStore(conn, trips)
        await threads.setup()
        await runs.setup()
        assistants = SqliteAssistantStore(conn, trips)
        await assistants.setup()
        thread_ttls = SqliteThreadTTLStore(conn, trips)
        await thread_ttls.setup()
        crons = SqliteCronStore(conn, trips)
        await crons.setup()
        flows = SqliteFlowStore(trips)
        await flows.setup()
        yield Storage(
            threads=threads,
            runs=runs,
            checkpointer=checkpointer,
            latest_id_reader=checkpointer.alatest_id,
            assistants=assistants,
            thread_ttls=thread_ttls,
            crons=crons,
            flows=flows,
        )
