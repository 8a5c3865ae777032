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
from app.store.sqlite import _coarse_predicates, _micros, _moment, _text
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
_COLUMNS = (
    "cron_id, assistant_id, thread_id, schedule, timezone, end_time, payload, metadata, enabled,"
    " on_run_completed, user_id, next_run_date, created_at, updated_at"
)


def _opt_micros(moment: datetime | None) -> int | None:
    return None if moment is None else _micros(moment)


def _opt_moment(micros: int | None) -> datetime | None:
    return None if micros is None else _moment(micros)


def _params(c: Cron) -> tuple[Any, ...]:
    return (
        c.cron_id,
        c.assistant_id,
        c.thread_id,
        c.schedule,
        c.timezone,
        _opt_micros(c.end_time),
        _text(c.payload),
        _text(c.metadata),
        int(c.enabled),
        c.on_run_completed,
        c.user_id,
        _opt_micros(c.next_run_date),
        _micros(c.created_at),
        _micros(c.updated_at),
    )


def _cron(row: Any) -> Cron:
    (cid, aid, tid, schedule, tz, end, payload, metadata, enabled, orc, uid, nxt, ca, ua) = row
    return Cron(
        cron_id=cid,
        assistant_id=aid,
        thread_id=tid,
        schedule=schedule,
        timezone=tz,
        end_time=_opt_moment(end),
        payload=loads(payload),
        metadata=loads(metadata),
        enabled=bool(enabled),
        on_run_completed=orc,
        user_id=uid,
        next_run_date=_opt_moment(nxt),
        created_at=_moment(ca),
        updated_at=_moment(ua),
    )


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
        params = _params(cron)
        await self._trips.write(
            lambda db: db.execute(
                f"INSERT INTO crons ({_COLUMNS}) VALUES ({', '.join('?' * len(params))})", params
            )
        )
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
            columns = [name.strip() for name in _COLUMNS.split(",")][1:]
            assignments = ", ".join(f"{name} = ?" for name in columns)
            db.execute(
                f"UPDATE crons SET {assignments} WHERE cron_id = ?", (*_params(new)[1:], cron_id)
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
            exact = (_cron(r) for r in db.execute(sql, params) if contains(loads(r[7]), wanted))
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
                (_opt_micros(following), cron_id, _micros(expected)),
            ).fetchall()
        )
        return bool(won)
