"""LangGraph's SQLite checkpointer, one trip to the connection's thread per operation.

``AsyncSqliteSaver`` awaits aiosqlite once per execute, fetch, cursor close and
commit, and every await is a round trip through aiosqlite's queue to its
worker thread and back. Measured on the ``steps`` graph: a stateless 3-node
run made 59 trips, a stateful one 56, and aiosqlite's ``Connection._execute``
was the top entry of the profile (16% of GIL time).

``SingleTripSqliteSaver`` keeps ``AsyncSqliteSaver``'s interface and its whole
storage format, and changes only how the SQL reaches SQLite: each async
operation hands LangGraph's own *sync* ``SqliteSaver``, bound to the very
``sqlite3.Connection`` aiosqlite wraps, to the worker thread as one unit of
work (through ``SqliteTrips``, the same path the thread and run stores
take). A stateful ``steps`` run then made 20 trips instead of 53 (stores
included) and spent about a fifth less server CPU; units issued together now
share trips too (13 for a lone run, about 2 per run at 20 concurrent runs).

What a compiled graph asks of it: ``aget_state`` is one ``aget_tuple``, plus
one ``aget_delta_channel_history`` when the graph has a ``DeltaChannel``
(and one more ``aget_state`` per subgraph task with ``subgraphs=True``);
``aget_state_history`` is one ``alist``; a run is one ``aget_tuple``, then
``aput``/``aput_writes`` per step and task.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import aiosqlite
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from app.store.sqlite_trips import SqliteTrips

__all__ = ["SingleTripSqliteSaver"]

_T = TypeVar("_T")


class _UncommittedSqliteSaver(SqliteSaver):
    """``SqliteSaver`` that leaves commits to the trip it runs in.

    ``SqliteSaver`` commits after every write; inside a trip that would
    commit each of the trip's checkpoint writes on its own, when
    ``SqliteTrips`` commits them all together at the end of the trip.
    """

    @contextmanager
    def cursor(self, transaction: bool = True) -> Iterator[sqlite3.Cursor]:
        with self.lock:
            self.setup()
            cur = self.conn.cursor()
            try:
                yield cur
            finally:
                cur.close()


class SingleTripSqliteSaver(AsyncSqliteSaver):
    """``AsyncSqliteSaver`` whose every operation is one unit on the connection's thread.

    Invariant, for ``op`` in ``aget_tuple``, ``alist``, ``aput``,
    ``aput_writes``, ``adelete_thread`` and ``aget_delta_channel_history``
    (once ``setup()`` has run, itself one trip)::

        trips_to_worker(await saver.op(...)) <= 1

    (it shares its trip with the units issued alongside it, see
    ``SqliteTrips``), and that trip is atomic with respect to every other
    user of the connection: nothing else queued on it (store writes
    included) runs between the operation's statements, and a write is
    committed before its caller resumes. ``alist`` therefore reads all
    matching checkpoints in its one trip before yielding the first;
    LangGraph's ``aget_state_history`` consumes the list eagerly anyway.

    Storage is exactly ``AsyncSqliteSaver``'s: the SQL, tables and serde all
    come from langgraph-checkpoint-sqlite, so a file written by either saver
    reads the same through the other.

    Thread safety: ``SqliteSaver`` only ever runs on aiosqlite's worker,
    which opened the connection, so ``check_same_thread`` holds and its
    ``threading.Lock`` is never contended. The inherited sync methods
    (``get_tuple``, ``put``, ...) still bridge to the event loop as
    ``AsyncSqliteSaver``'s do.

    ``conn`` must already be open (inside ``async with aiosqlite.connect()``).
    """

    def __init__(
        self,
        conn: aiosqlite.Connection,
        *,
        serde: SerializerProtocol | None = None,
        trips: SqliteTrips | None = None,
    ) -> None:
        super().__init__(conn, serde=serde)
        self._sync: SqliteSaver | None = None
        # The stores' trips when given: their units and ours then share trips
        # and commits (see ``SqliteTrips``).
        self._trips = trips or SqliteTrips(conn)

    async def setup(self) -> None:
        """Create the tables if missing (``SqliteSaver.setup``, the same schema), in one trip."""
        await self._sync_saver()

    async def _sync_saver(self) -> SqliteSaver:
        """The sync saver, set up on first use (the lock only until then)."""
        if self._sync is not None:
            return self._sync
        async with self.lock:
            if self._sync is not None:
                return self._sync

            def prepare(db: sqlite3.Connection) -> SqliteSaver:
                saver = _UncommittedSqliteSaver(db)
                saver.serde = self.serde
                saver.setup()
                return saver

            saver = await self._trips.write(prepare)
            self._has_task_path = saver._has_task_path
            self._sync = saver
            self.is_setup = True
            return saver

    async def _in_one_trip(self, work: Callable[[SqliteSaver], _T]) -> _T:
        saver = await self._sync_saver()
        return await self._trips.read(lambda _db: work(saver))

    async def _write_in_one_trip(self, work: Callable[[SqliteSaver], _T]) -> _T:
        saver = await self._sync_saver()
        return await self._trips.write(lambda _db: work(saver))

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._in_one_trip(lambda saver: saver.get_tuple(config))

    async def alatest_id(self, thread_id: str, checkpoint_ns: str = "") -> str | None:
        """The id of the thread's latest checkpoint, without loading it: what
        ``aget_tuple`` on the thread would answer as ``checkpoint_id``."""

        def latest(db: sqlite3.Connection) -> str | None:
            row = db.execute(
                "SELECT checkpoint_id FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ?"
                " ORDER BY checkpoint_id DESC LIMIT 1",
                (thread_id, checkpoint_ns),
            ).fetchone()
            return str(row[0]) if row else None

        await self._sync_saver()  # the tables exist once it has set up
        return await self._trips.read(latest)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        found = await self._in_one_trip(
            lambda saver: list(saver.list(config, filter=filter, before=before, limit=limit))
        )
        for item in found:
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._write_in_one_trip(
            lambda saver: saver.put(config, checkpoint, metadata, new_versions)
        )

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await self._write_in_one_trip(
            lambda saver: saver.put_writes(config, writes, task_id, task_path)
        )

    async def adelete_thread(self, thread_id: str) -> None:
        await self._write_in_one_trip(lambda saver: saver.delete_thread(thread_id))

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        return await self._in_one_trip(
            lambda saver: saver.get_delta_channel_history(config=config, channels=channels)
        )
