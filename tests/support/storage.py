"""A contract test's storage: one of every backend, opened fresh for each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
import pytest

from app.settings import PostgresSettings, StorageSettings
from app.store import Storage, open_storage

__all__ = ["BACKENDS", "PLATFORM_TABLES", "empty_tables", "fresh_storage"]

BACKENDS = ["memory", "sqlite", "postgres"]
# What a server on the session's schema leaves behind for the next one: crons
# that would fire there, user assistants and store items (LangGraph's ``store``
# table) that would show in its searches.
PLATFORM_TABLES = ("crons", "assistants", "assistant_versions", "thread_ttl", "store")


def empty_tables(postgres_url: str, tables: Sequence[str] = PLATFORM_TABLES) -> None:
    """Truncate ``tables`` in the schema ``postgres_url`` names (after its server stopped)."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(tables)}")


@asynccontextmanager
async def fresh_storage(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    *,
    empty: Sequence[str],
    backend: str | None = None,
) -> AsyncIterator[Storage]:
    """Storage on ``backend`` (default: the one ``request.param`` names). On Postgres
    (this session's schema, shared by its tests) the tables ``empty`` are truncated first."""
    backend = backend or request.param
    postgres = None
    if backend == "postgres":
        postgres = PostgresSettings(url=request.getfixturevalue("postgres_url"))
    async with open_storage(
        StorageSettings(backend=backend), tmp_path / "s.db", postgres
    ) as opened:
        if opened.postgres is not None and empty:
            async with opened.postgres.pool.connection() as conn:
                await conn.execute(f"TRUNCATE {', '.join(empty)}")
        yield opened
