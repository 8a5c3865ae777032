"""Postgres schema migrations: versioned, idempotent, safe when instances start together.

Each test gets a schema of its own (not the session's): what is under test
is what happens to an empty database.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.rows import dict_row

from app.settings import PostgresSettings
from app.store.migrations import MIGRATIONS, Migration, migrate
from app.store.postgres_pool import PostgresSaver, open_postgres
from tests.support.backends import postgres_schema


@pytest.fixture
def empty_schema(postgres_url: str) -> Iterator[str]:
    # postgres_url: the server was found (or the test skipped/failed loudly).
    with postgres_schema() as url:
        yield url


async def _connect(url: str) -> psycopg.AsyncConnection[dict[str, object]]:
    return await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)


async def _applied(url: str) -> list[int]:
    conn = await _connect(url)
    async with conn:
        cursor = await conn.execute("SELECT version FROM switchyard_migrations ORDER BY version")
        return [int(str(row["version"])) for row in await cursor.fetchall()]


async def test_migrate_when_run_twice_then_second_run_applies_nothing(empty_schema: str) -> None:
    conn = await _connect(empty_schema)
    async with conn:
        first = await migrate(conn)
        second = await migrate(conn)
    assert first == [m.version for m in MIGRATIONS]
    assert second == []
    assert await _applied(empty_schema) == first


async def test_migrate_when_instances_start_at_once_then_each_migration_applied_once(
    empty_schema: str,
) -> None:
    conns = [await _connect(empty_schema) for _ in range(4)]
    started: list[str] = []

    async def checkpoint_setup(conn: psycopg.AsyncConnection[dict[str, object]]) -> None:
        started.append("setup")
        await PostgresSaver(conn).setup()

    try:
        results = await asyncio.gather(
            *(migrate(conn, also=functools.partial(checkpoint_setup, conn)) for conn in conns)
        )
    finally:
        for conn in conns:
            await conn.close()
    applied = sorted(version for result in results for version in result)
    assert applied == [m.version for m in MIGRATIONS]  # once each, by whichever came first
    assert sum(1 for result in results if result) == 1
    assert started == ["setup"] * 4  # each ran LangGraph's setup, one at a time, none failed
    assert await _applied(empty_schema) == applied


async def test_open_postgres_when_several_pools_open_together_then_all_serve(
    empty_schema: str,
) -> None:
    settings = PostgresSettings(url=empty_schema, pool_max=2)

    async def open_and_query() -> int:
        async with open_postgres(settings) as backend, backend.pool.connection() as conn:
            cursor = await conn.execute("SELECT COUNT(*) AS n FROM checkpoint_migrations")
            row = await cursor.fetchone()
            assert row is not None
            return int(row["n"])

    counts = await asyncio.gather(*(open_and_query() for _ in range(3)))
    assert len(set(counts)) == 1
    assert counts[0] > 0


async def test_migrate_when_a_migration_fails_then_nothing_of_it_is_recorded(
    empty_schema: str,
) -> None:
    failing = Migration(len(MIGRATIONS) + 1, "broken", "CREATE TABLE t (x int); SELECT 1/0;")
    broken = (*MIGRATIONS, failing)
    conn = await _connect(empty_schema)
    async with conn:
        with pytest.raises(psycopg.errors.DivisionByZero):
            await migrate(conn, migrations=broken)
        cursor = await conn.execute("SELECT to_regclass('t') AS t")
        row = await cursor.fetchone()
    assert row is not None
    assert row["t"] is None  # the failed migration's first statement was rolled back too
    assert await _applied(empty_schema) == [m.version for m in MIGRATIONS]
