"""The long-term store on Postgres: LangGraph's ``AsyncPostgresStore`` on the storage's pool.

Its own tables (``store``, ``store_migrations``; ``store_vectors`` with an
index) are created by its ``setup``, which is not safe to race: several
instances starting at once run it under the schema's migration lock, as
they run Switchyard's migrations. A semantic index needs pgvector; without
the ``vector`` extension startup stops with ``EmbeddingsUnavailable``
saying so, instead of failing at the first put.

One correction to LangGraph's store: its range filters (``$gt``, ``$gte``,
``$lt``, ``$lte``) compare the stored value as text, so ``{"n": {"$gte": 10}}``
matched ``n = 9``. Here a number in the filter compares numerically with
stored numbers (and matches nothing else), as the memory and SQLite stores do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from langgraph.store.base import IndexConfig, TTLConfig
from langgraph.store.postgres.aio import AsyncPostgresStore

from app.store.embeddings import EmbeddingsUnavailable
from app.store.migrations import advisory_lock
from app.store.postgres_pool import PostgresBackend

__all__ = ["NumericRangeStore", "open_postgres_store"]

_RANGE = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


class NumericRangeStore(AsyncPostgresStore):
    """``AsyncPostgresStore`` whose range filters compare numbers as numbers."""

    def _get_filter_condition(self, key: str, op: str, value: Any) -> tuple[str, list[Any]]:
        if op in _RANGE and isinstance(value, int | float) and not isinstance(value, bool):
            # CASE, not AND: Postgres may evaluate an AND's cast before its type check.
            return (
                f"CASE WHEN jsonb_typeof(value->%s) = 'number'"
                f" THEN (value->>%s)::numeric {_RANGE[op]} %s ELSE false END",
                [key, key, value],
            )
        return super()._get_filter_condition(key, op, value)


@asynccontextmanager
async def open_postgres_store(
    backend: PostgresBackend, index: IndexConfig | None, ttl: TTLConfig
) -> AsyncIterator[NumericRangeStore]:
    store = NumericRangeStore(backend.pool, index=index, ttl=ttl)  # type: ignore[arg-type]
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
