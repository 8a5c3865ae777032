"""``FlowStore`` in the server's SQLite file, on the shared connection and its trips.

One row per version. A new version is numbered inside its own ``INSERT``
(``MAX(version) + 1``), and every statement runs on aiosqlite's single
worker, so two concurrent ``put`` s can never take the same number.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from app.errors import FlowExists
from app.serde import dumps, loads
from app.store._common import as_utc
from app.store.base import utcnow
from app.store.flows import FlowRecord, _missing
from app.store.sqlite_trips import SqliteTrips

__all__ = ["SqliteFlowStore"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS flows (
    flow_id     TEXT NOT NULL,
    version     INTEGER NOT NULL,
    document    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (flow_id, version)
);
"""
_COLUMNS = "flow_id, version, document, created_at"


def _micros(moment: datetime) -> int:
    return (as_utc(moment) - _EPOCH) // timedelta(microseconds=1)


def _record(row: Any) -> FlowRecord:
    flow_id, version, document, created = row
    return FlowRecord(flow_id, version, loads(document), _EPOCH + timedelta(microseconds=created))


class SqliteFlowStore:
    def __init__(self, trips: SqliteTrips) -> None:
        self._trips = trips

    async def _all(self, sql: str, *params: Any) -> list[Any]:
        def run(db: sqlite3.Connection) -> list[Any]:
            return db.execute(sql, params).fetchall()

        return await self._trips.read(run)

    async def _write(self, sql: str, *params: Any) -> list[Any]:
        def run(db: sqlite3.Connection) -> list[Any]:
            return db.execute(sql, params).fetchall()

        return await self._trips.write(run)

    async def setup(self) -> None:
        def create(db: sqlite3.Connection) -> None:
            db.executescript(_SCHEMA)

        await self._trips.write(create)

    async def create(self, flow_id: str, document: dict[str, Any]) -> FlowRecord:
        rows = await self._write(
            f"INSERT INTO flows ({_COLUMNS}) VALUES (?, 1, ?, ?) "
            f"ON CONFLICT DO NOTHING RETURNING {_COLUMNS}",
            flow_id,
            dumps(document).decode(),
            _micros(utcnow()),
        )
        if not rows:
            raise FlowExists(
                f"flow {flow_id!r} already exists; PUT /flows/{flow_id} adds a version"
            )
        return _record(rows[0])

    async def put(self, flow_id: str, document: dict[str, Any]) -> FlowRecord:
        rows = await self._write(
            f"INSERT INTO flows ({_COLUMNS}) "
            "SELECT flow_id, MAX(version) + 1, ?, ? FROM flows WHERE flow_id = ? "
            f"GROUP BY flow_id RETURNING {_COLUMNS}",
            dumps(document).decode(),
            _micros(utcnow()),
            flow_id,
        )
        if not rows:
            raise _missing(flow_id)
        return _record(rows[0])

    async def get(self, flow_id: str, version: int | None = None) -> FlowRecord:
        if version is None:
            rows = await self._all(
                f"SELECT {_COLUMNS} FROM flows WHERE flow_id = ? ORDER BY version DESC LIMIT 1",
                flow_id,
            )
        else:
            rows = await self._all(
                f"SELECT {_COLUMNS} FROM flows WHERE flow_id = ? AND version = ?", flow_id, version
            )
        if not rows:
            raise _missing(flow_id, version)
        return _record(rows[0])

    async def versions(self, flow_id: str) -> list[FlowRecord]:
        rows = await self._all(
            f"SELECT {_COLUMNS} FROM flows WHERE flow_id = ? ORDER BY version", flow_id
        )
        if not rows:
            raise _missing(flow_id)
        return [_record(row) for row in rows]

    async def latest(self) -> list[FlowRecord]:
        rows = await self._all(
            f"SELECT {_COLUMNS} FROM flows AS f WHERE version = "
            "(SELECT MAX(version) FROM flows WHERE flow_id = f.flow_id) ORDER BY flow_id"
        )
        return [_record(row) for row in rows]

    async def delete(self, flow_id: str) -> bool:
        rows = await self._write("DELETE FROM flows WHERE flow_id = ? RETURNING version", flow_id)
        return bool(rows)
