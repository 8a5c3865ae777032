"""One Postgres connection pool per process: the stores, the checkpointer and the coordinator.

``open_postgres`` opens the pool, brings the schema up to date (our
migrations and LangGraph's checkpoint tables, under one advisory lock, see
``app.store.migrations``) and hands out the pool and the checkpointer::

    AsyncConnectionPool (autocommit, dict rows; psycopg_pool)
    ├── PostgresSaver            LangGraph's AsyncPostgresSaver tables
    ├── PostgresThreadStore      table threads
    ├── PostgresRunStore         table runs
    └── (the distributed coordinator's claims and leases)

A connection the server dropped (a restart, a failover,
``pg_terminate_backend``) is replaced before it is handed out instead of
failing the next statement: the check costs a round trip only for a
connection whose socket shows that the server said something while it was
idle (``_check_idle_connection``). The schema is whatever the URL's
``search_path`` names (``?options=-csearch_path%3Dmyschema``), ``public`` by
default.
"""

from __future__ import annotations

import select
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from app.settings import PostgresSettings
from app.store.migrations import migrate
from app.store.postgres import Pool

__all__ = ["PostgresBackend", "PostgresSaver", "open_postgres"]


class PostgresSaver(AsyncPostgresSaver):
    """LangGraph's ``AsyncPostgresSaver`` on our pool, without its process-wide lock,
    plus the one query the run manager adds."""

    @asynccontextmanager
    async def _cursor(self, *, pipeline: bool = False) -> AsyncIterator[AsyncCursor[DictRow]]:
        """A cursor on a pooled connection of its own.

        Upstream takes ``self.lock`` around every cursor, which a single shared
        connection needs but a pool does not: with it, every checkpoint read and
        write of the process waited for the previous one (20 concurrent runs
        measured p50 399 ms end to end). Pipeline mode is kept where upstream
        asks for it (a checkpoint's blobs and row in one round trip).
        """
        if not isinstance(self.conn, AsyncConnectionPool):  # one connection: upstream's lock
            async with super()._cursor(pipeline=pipeline) as cur:
                yield cur
            return
        async with self.conn.connection() as conn:
            if pipeline:
                async with conn.pipeline(), conn.cursor(binary=True, row_factory=dict_row) as cur:
                    yield cur
            else:
                async with conn.cursor(binary=True, row_factory=dict_row) as cur:
                    yield cur

    async def alatest_id(self, thread_id: str, checkpoint_ns: str = "") -> str | None:
        """The id of the thread's latest checkpoint, without loading it: what
        ``aget_tuple`` on the thread would answer as ``checkpoint_id``."""
        async with self._cursor() as cursor:
            await cursor.execute(
                "SELECT checkpoint_id FROM checkpoints WHERE thread_id = %s AND checkpoint_ns = %s"
                " ORDER BY checkpoint_id DESC LIMIT 1",
                (thread_id, checkpoint_ns),
            )
            row = await cursor.fetchone()
        return None if row is None else str(row["checkpoint_id"])


@dataclass(frozen=True)
class PostgresBackend:
    pool: Pool
    checkpointer: PostgresSaver


async def _check_idle_connection(conn: AsyncConnection[DictRow]) -> None:
    """The pool's check before handing out a connection, without a round trip
    when the connection shows no sign of trouble.

    An idle connection has nothing to read. One that does was told something
    by the server while idle, which is how a server that goes away says it
    (``pg_terminate_backend``, a shutdown or restart: a FATAL message, then
    end of file). Only then is it checked for real; a failed check makes the
    pool replace it. ``AsyncConnectionPool.check_connection`` on every
    checkout cost a round trip per statement (16% of the server's CPU on
    stateful runs when measured).
    """
    if conn.closed or conn.broken:
        raise ConnectionError("connection closed")
    # poll, not select: a server holding thousands of streams has descriptors
    # past select's limit of 1024.
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    if poller.poll(0):
        await AsyncConnectionPool.check_connection(conn)


def _conninfo(settings: PostgresSettings) -> str:
    if settings.url is None:
        raise ValueError("set SWITCHYARD_POSTGRES_URL to use the postgres backend")
    return settings.url.get_secret_value()


@asynccontextmanager
async def open_postgres(settings: PostgresSettings) -> AsyncIterator[PostgresBackend]:
    """The pool, opened and migrated; closed on exit."""
    pool: Pool = AsyncConnectionPool(
        _conninfo(settings),
        min_size=settings.pool_min,
        max_size=settings.pool_max,
        timeout=settings.connect_timeout_s,
        # What AsyncPostgresSaver requires of its connections; the stores read dict rows too.
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        connection_class=AsyncConnection[DictRow],
        check=_check_idle_connection,
        open=False,
        name="switchyard",
    )
    await pool.open(wait=True, timeout=settings.connect_timeout_s)
    try:
        checkpointer = PostgresSaver(pool)
        async with pool.connection() as conn:
            await migrate(conn, also=checkpointer.setup)
        yield PostgresBackend(pool=pool, checkpointer=checkpointer)
    finally:
        await pool.close()
