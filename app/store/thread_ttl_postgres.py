"""``ThreadTTLStore`` in Postgres: table ``thread_ttl`` (migration 0004).

Every instance's sweeper reads the same due TTLs. Two sweepers applying one
TTL at once is harmless: deleting a thread that is already gone, or pruning
a history already pruned, changes nothing, and the re-armed TTL is the same.
"""

from __future__ import annotations

from datetime import datetime

from psycopg.rows import DictRow

from app.store._common import as_utc
from app.store.postgres import Pool
from app.store.postgres_tx import rows
from app.store.thread_ttl import ThreadTTL

__all__ = ["PostgresThreadTTLStore"]

_COLUMNS = "thread_id, strategy, ttl_minutes, expires_at"


def _ttl(row: DictRow) -> ThreadTTL:
    return ThreadTTL(
        row["thread_id"], row["strategy"], row["ttl_minutes"], as_utc(row["expires_at"])
    )


class PostgresThreadTTLStore:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def set(self, ttl: ThreadTTL) -> None:
        await rows(
            self._pool,
            f"INSERT INTO thread_ttl ({_COLUMNS}) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (thread_id) DO UPDATE SET strategy = excluded.strategy,"
            " ttl_minutes = excluded.ttl_minutes, expires_at = excluded.expires_at",
            (ttl.thread_id, ttl.strategy, ttl.ttl_minutes, as_utc(ttl.expires_at)),
        )

    async def get(self, thread_id: str) -> ThreadTTL | None:
        found = await rows(
            self._pool, f"SELECT {_COLUMNS} FROM thread_ttl WHERE thread_id = %s", (thread_id,)
        )
        return _ttl(found[0]) if found else None

    async def forget(self, thread_id: str) -> None:
        await rows(self._pool, "DELETE FROM thread_ttl WHERE thread_id = %s", (thread_id,))

    async def due(self, now: datetime, limit: int = 100) -> list[ThreadTTL]:
        found = await rows(
            self._pool,
            f"SELECT {_COLUMNS} FROM thread_ttl WHERE expires_at <= %s"
            " ORDER BY expires_at LIMIT %s",
            (as_utc(now), limit),
        )
        return [_ttl(row) for row in found]
