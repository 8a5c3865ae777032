"""Versioned schema migrations for the Postgres backend, applied at startup.

Each ``NNNN_name.sql`` file in this package is one migration; its number is
its version. ``migrate`` applies, in order, every version the database has
not recorded in ``switchyard_migrations``, each in its own transaction with
its record, so a migration is either wholly applied and recorded or not at
all. Running it again applies nothing (idempotent).

Several instances may start at once against one database. They serialise on
a Postgres advisory lock keyed by the schema, so exactly one applies what is
missing while the others wait, then find nothing left to do. Waiting polls
``pg_try_advisory_lock`` instead of blocking in ``pg_advisory_lock``: a
blocked statement holds a snapshot, and LangGraph's checkpoint migrations
(``CREATE INDEX CONCURRENTLY``, run under the same lock by ``migrate``'s
caller) wait for every older snapshot to finish, so a blocking waiter would
deadlock with the lock holder through the client.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any

from psycopg import AsyncConnection

__all__ = ["MIGRATIONS", "Migration", "advisory_lock", "migrate"]

log = logging.getLogger("switchyard.store")

_FILE = re.compile(r"^(\d{4})_(\w+)\.sql$")

# One key per schema: instances that share a schema share the lock, tests in
# separate schemas of one database never wait for each other.
_LOCK_KEY = "hashtext('switchyard-migrations:' || current_schema())"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def _load() -> tuple[Migration, ...]:
    found: list[Migration] = []
    for entry in resources.files(__package__).iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migration versions must be 1, 2, ... without gaps: {versions}")
    return tuple(found)


MIGRATIONS: tuple[Migration, ...] = _load()


@asynccontextmanager
async def advisory_lock(
    conn: AsyncConnection[Any], *, timeout_s: float = 120.0, poll_s: float = 0.05
) -> AsyncIterator[None]:
    """Hold the schema's migration lock on ``conn`` (autocommit) while inside."""
    deadline = time.monotonic() + timeout_s
    while True:
        cursor = await conn.execute(f"SELECT pg_try_advisory_lock({_LOCK_KEY})")
        row = await cursor.fetchone()
        if row is not None and _first(row):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"another instance held the migration lock for more than {timeout_s:.0f} s"
            )
        await asyncio.sleep(poll_s)  # another instance is migrating: poll, never block
    try:
        yield
    finally:
        await conn.execute(f"SELECT pg_advisory_unlock({_LOCK_KEY})")


def _first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


async def migrate(
    conn: AsyncConnection[Any],
    *,
    migrations: tuple[Migration, ...] = MIGRATIONS,
    also: Callable[[], Awaitable[None]] | None = None,
) -> list[int]:
    """Apply what is missing under the advisory lock; returns the versions applied.

    ``also`` runs under the same lock after the migrations (LangGraph's
    checkpointer setup, whose own bookkeeping is not safe to race).
    ``conn`` must be in autocommit mode.
    """
    async with advisory_lock(conn):
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS switchyard_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        cursor = await conn.execute("SELECT version FROM switchyard_migrations")
        done = {_first(row) for row in await cursor.fetchall()}
        applied: list[int] = []
        for migration in migrations:
            if migration.version in done:
                continue
            async with conn.transaction():
                # Files hold several statements: no parameters, not prepared.
                await conn.execute(migration.sql, prepare=False)
                await conn.execute(
                    "INSERT INTO switchyard_migrations (version, name) VALUES (%s, %s)",
                    (migration.version, migration.name),
                )
            log.info("applied migration %04d_%s", migration.version, migration.name)
            applied.append(migration.version)
        if also is not None:
            await also()
        return applied
