"""Thread TTLs: when a thread is due, and what happens to it then.

A TTL is ``(strategy, minutes)``; it is due ``minutes`` after it was set or,
when the thread was used since, after its last use (``updated_at``): the
sweeper checks and re-arms rather than sweeping a thread still in use.
``ThreadTTLStore`` keeps them, in memory or in the ``thread_ttl`` table on
the shared SQLite connection; ``tests/app/store/test_thread_ttl_contract.py`` runs one contract over
both.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

import aiosqlite

from app.store.sqlite import _micros, _moment
from app.store.sqlite_trips import SqliteTrips

__all__ = [
    "MemoryThreadTTLStore",
    "SqliteThreadTTLStore",
    "TTLStrategy",
    "ThreadTTL",
    "ThreadTTLStore",
]

TTLStrategy = Literal["delete", "keep_latest"]


@dataclass(frozen=True, slots=True)
class ThreadTTL:
    thread_id: str
    strategy: TTLStrategy
    ttl_minutes: float
    expires_at: datetime

    @classmethod
    def starting(
        cls, thread_id: str, strategy: TTLStrategy, minutes: float, now: datetime
    ) -> ThreadTTL:
        return cls(thread_id, strategy, minutes, now + timedelta(minutes=minutes))

    def to_json(self) -> dict[str, Any]:
        """As ``GET /threads/{id}?include=ttl`` shows it."""
        return {
            "strategy": self.strategy,
            "ttl_minutes": self.ttl_minutes,
            "expires_at": self.expires_at,
        }


class ThreadTTLStore(Protocol):
    async def set(self, ttl: ThreadTTL) -> None:
        """Create or replace the thread's TTL."""
        ...

    async def get(self, thread_id: str) -> ThreadTTL | None: ...

    async def forget(self, thread_id: str) -> None: ...

    async def due(self, now: datetime, limit: int = 100) -> list[ThreadTTL]:
        """TTLs that expired by ``now``, soonest first."""
        ...


class MemoryThreadTTLStore:
    def __init__(self) -> None:
        self._ttls: dict[str, ThreadTTL] = {}

    async def set(self, ttl: ThreadTTL) -> None:
        self._ttls[ttl.thread_id] = dataclasses.replace(ttl)

    async def get(self, thread_id: str) -> ThreadTTL | None:
        return self._ttls.get(thread_id)

    async def forget(self, thread_id: str) -> None:
        self._ttls.pop(thread_id, None)

    async def due(self, now: datetime, limit: int = 100) -> list[ThreadTTL]:
        expired = sorted(
            (t for t in self._ttls.values() if t.expires_at <= now), key=lambda t: t.expires_at
        )
        return expired[:limit]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS thread_ttl (
    thread_id    TEXT PRIMARY KEY,
    strategy     TEXT NOT NULL,
    ttl_minutes  REAL NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS thread_ttl_expires_at ON thread_ttl (expires_at);
"""


def _ttl(row: Any) -> ThreadTTL:
    thread_id, strategy, minutes, expires = row
    return ThreadTTL(thread_id, strategy, minutes, _moment(expires))


class SqliteThreadTTLStore:
    """Table ``thread_ttl`` on the shared connection; call ``setup()`` once."""

    def __init__(self, conn: aiosqlite.Connection, trips: SqliteTrips) -> None:
        self._conn = conn
        self._trips = trips

    async def setup(self) -> None:
        await self._conn.executescript(_SCHEMA)
        await self._conn.commit()

    async def set(self, ttl: ThreadTTL) -> None:
        params = (ttl.thread_id, ttl.strategy, ttl.ttl_minutes, _micros(ttl.expires_at))

        def unit(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO thread_ttl (thread_id, strategy, ttl_minutes, expires_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (thread_id) DO UPDATE SET"
                " strategy = excluded.strategy, ttl_minutes = excluded.ttl_minutes,"
                " expires_at = excluded.expires_at",
                params,
            )

        await self._trips.write(unit)

    async def get(self, thread_id: str) -> ThreadTTL | None:
        def unit(db: sqlite3.Connection) -> ThreadTTL | None:
            row = db.execute(
                "SELECT thread_id, strategy, ttl_minutes, expires_at FROM thread_ttl"
                " WHERE thread_id = ?",
                (thread_id,),
            ).fetchone()
            return None if row is None else _ttl(row)

        return await self._trips.read(unit)

    async def forget(self, thread_id: str) -> None:
        await self._trips.write(
            lambda db: db.execute("DELETE FROM thread_ttl WHERE thread_id = ?", (thread_id,))
        )

    async def due(self, now: datetime, limit: int = 100) -> list[ThreadTTL]:
        def unit(db: sqlite3.Connection) -> list[ThreadTTL]:
            rows = db.execute(
                "SELECT thread_id, strategy, ttl_minutes, expires_at FROM thread_ttl"
                " WHERE expires_at <= ? ORDER BY expires_at LIMIT ?",
                (_micros(now), limit),
            )
            return [_ttl(row) for row in rows]

        return await self._trips.read(unit)
