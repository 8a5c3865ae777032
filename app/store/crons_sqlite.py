"""``CronStore`` on the ``crons`` table of the shared SQLite connection.

``claim`` is one conditional UPDATE (``WHERE next_run_date = ?``): SQLite
serialises writers, so of several processes that saw the same due tick,
exactly one changes the row and wins it. The same statement is how a
Postgres store would claim it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import aiosqlite

from app.serde import loads
from app.store._common import contains, json_filter
from app.store.base import utcnow
from app.store.crons import Cron, changed, check_sort
from app.store.sqlite import _coarse_predicates, _micros
from app.store.sqlite_columns import SqliteColumns
from app.store.sqlite_trips import SqliteTrips

__all__ = ["SqliteCronStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS crons (
    cron_id           TEXT PRIMARY KEY,
    assistant_id      TEXT NOT NULL,
    thread_id         TEXT,
    schedule          TEXT NOT NULL,
    timezone          TEXT,
    end_time          INTEGER,
    payload           TEXT NOT NULL,
    metadata          TEXT NOT NULL,
    enabled           INTEGER NOT NULL,
    on_run_completed  TEXT,
    user_id           TEXT,
    next_run_date     INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS crons_next_run_date ON crons (next_run_date);
"""
_CRON = SqliteColumns(
    Cron,
    json=frozenset({"payload", "metadata"}),
    times=frozenset({"end_time", "next_run_date", "created_at", "updated_at"}),
    bools=frozenset({"enabled"}),
)
_COLUMNS = _CRON.select
_CHANGING = _CRON.names[1:]  # all but cron_id


def _cron(row: Any) -> Cron:
    found: Cron = _CRON.read(row)
    return found


def _get(db: sqlite3.Connection, cron_id: str) -> Cron | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM crons WHERE cron_id = ?", (cron_id,)).fetchone()
    return None if row is None else _cron(row)


class SqliteCronStore:
    """Call ``setup()`` once before use."""

    def __init__(self, conn: aiosqlite.Connection, trips: SqliteTrips) -> None:
        self._conn = conn
        self._trips = trips

    async def setup(self) -> None:
        await self._conn.executescript(_SCHEMA)
        await self._conn.commit()

    async def create(self, cron: Cron) -> Cron:
        await self._trips.write(lambda db: db.execute(_CRON.insert("crons"), _CRON.params(cron)))
        found = await self.get(cron.cron_id)
        assert found is not None
        return found

    async def get(self, cron_id: str) -> Cron | None:
        return await self._trips.read(lambda db: _get(db, cron_id))

    async def update(self, cron_id: str, **changes: Any) -> Cron | None:
        def unit(db: sqlite3.Connection) -> Cron | None:
            current = _get(db, cron_id)
            if current is None:
                return None
            new = changed(current, changes, utcnow())
            db.execute(
                f"UPDATE crons SET {_CRON.assignments(_CHANGING)} WHERE cron_id = ?",
                (*_CRON.params(new, _CHANGING), cron_id),
            )
            return new

        return await self._trips.write(unit)

    async def delete(self, cron_id: str) -> bool:
        gone = await self._trips.write(
            lambda db: db.execute(
                "DELETE FROM crons WHERE cron_id = ? RETURNING cron_id", (cron_id,)
            ).fetchall()
        )
        return bool(gone)

    @staticmethod
    def _where(
        assistant_id: str | None,
        thread_id: str | None,
        enabled: bool | None,
        wanted: Mapping[str, Any],
    ) -> tuple[str, list[Any]]:
        clauses, params = _coarse_predicates("metadata", wanted)
        for column, value in (("assistant_id", assistant_id), ("thread_id", thread_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if enabled is not None:
            clauses.append("enabled = ?")
            params.append(int(enabled))
        return " AND ".join(clauses) or "TRUE", params

    async def search(
        self,
        *,
        assistant_id: str | None = None,
        thread_id: str | None = None,
        enabled: bool | None = None,
        metadata: Mapping[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        sort_by: str = "created_at",
        sort_order: Literal["asc", "desc"] = "desc",
    ) -> list[Cron]:
        check_sort(sort_by, sort_order, limit, offset)
        wanted = json_filter(metadata)
        where, params = self._where(assistant_id, thread_id, enabled, wanted)
        # sort_by and sort_order were checked against closed sets.
        sql = (
            f"SELECT {_COLUMNS} FROM crons WHERE {where}"
            f" ORDER BY {sort_by} {sort_order}, rowid {sort_order}"
        )

        def unit(db: sqlite3.Connection) -> list[Cron]:
            exact = (c for c in map(_cron, db.execute(sql, params)) if contains(c.metadata, wanted))
            return [c for i, c in zip(range(offset + limit), exact, strict=False) if i >= offset]

        return await self._trips.read(unit)

    async def count(
        self,
        *,
        assistant_id: str | None = None,
        thread_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> int:
        wanted = json_filter(metadata)
        where, params = self._where(assistant_id, thread_id, None, wanted)

        def unit(db: sqlite3.Connection) -> int:
            rows = db.execute(f"SELECT metadata FROM crons WHERE {where}", params)
            return sum(contains(loads(row[0]), wanted) for row in rows)

        return await self._trips.read(unit)

    async def due(self, now: datetime, limit: int = 100) -> list[Cron]:
        def unit(db: sqlite3.Connection) -> list[Cron]:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM crons WHERE enabled = 1 AND next_run_date <= ?"
                " ORDER BY next_run_date LIMIT ?",
                (_micros(now), limit),
            )
            return [_cron(row) for row in rows]

        return await self._trips.read(unit)

    async def claim(self, cron_id: str, expected: datetime, following: datetime | None) -> bool:
        won = await self._trips.write(
            lambda db: db.execute(
                "UPDATE crons SET next_run_date = ? WHERE cron_id = ? AND next_run_date = ?"
                " RETURNING cron_id",
                (None if following is None else _micros(following), cron_id, _micros(expected)),
            ).fetchall()
        )
        return bool(won)
