"""The long-term store on Postgres: LangGraph's ``AsyncPostgresStore`` on the storage's pool.

Its own tables (``store``, ``store_migrations``; ``store_vectors`` with an
index) are created by its ``setup``, which is not safe to race: several
instances starting at once run it under the schema's migration lock, as
they run Switchyard's migrations. A semantic index needs pgvector; without
the ``vector`` extension startup stops with ``EmbeddingsUnavailable``
saying so, instead of failing at the first put.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from langgraph.store.base import IndexConfig, TTLConfig
from langgraph.store.postgres.aio import AsyncPostgresStore

from app.store.embeddings import EmbeddingsUnavailable
from app.store.migrations import advisory_lock
from app.store.postgres_pool import PostgresBackend

__all__ = ["open_postgres_store"]


@asynccontextmanager
async def open_postgres_store(
    backend: PostgresBackend, index: IndexConfig | None, ttl: TTLConfig
) -> AsyncIterator[AsyncPostgresStore]:
    store = AsyncPostgresStore(backend.pool, index=index, ttl=ttl)  # type: ignore[arg-type]
    async with backend.pool.connection() as conn, advisory_lock(conn):
        try:
            await store.setup()
        except (psycopg.errors.FeatureNotSupported, psycopg.errors.UndefinedFile) as exc:
            if "vector" not in (exc.diag.message_primary or ""):
                raise
            raise EmbeddingsUnavailable(  # CREATE EXTENSION vector: not on this server
                "SWITCHYARD_STORE_INDEX_EMBED on the postgres backend needs the pgvector"
                f" extension in the database ({exc.diag.message_primary})"
            ) from exc
    yield store
