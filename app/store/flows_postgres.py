"""``FlowStore`` in Postgres (table ``flows``, migration 0003), on the backend's pool.

A new version is numbered inside its own ``INSERT ... SELECT MAX(version) + 1``.
Two processes adding a version to one flow at once may compute the same
number; the primary key refuses the second, which retries with the next
number, so versions stay distinct without a lock.
"""

from __future__ import annotations

from typing import Any

import psycopg

from app.errors import FlowExists
from app.serde import dumps
from app.store._common import as_utc
from app.store.base import utcnow
from app.store.flows import FlowRecord, _missing
from app.store.postgres import Pool

__all__ = ["PostgresFlowStore"]

_COLUMNS = "flow_id, version, document, created_at"
_RETRIES = 20


def _record(row: Any) -> FlowRecord:
    return FlowRecord(row["flow_id"], row["version"], row["document"], as_utc(row["created_at"]))


class PostgresFlowStore:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def _rows(self, sql: str, *params: Any) -> list[Any]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchall() if cursor.description else []

    async def setup(self) -> None:
        return None  # the table comes with the schema migrations

    async def create(self, flow_id: str, document: dict[str, Any]) -> FlowRecord:
        rows = await self._rows(
            f"INSERT INTO flows ({_COLUMNS}) VALUES (%s, 1, %s::jsonb, %s) "
            f"ON CONFLICT DO NOTHING RETURNING {_COLUMNS}",
            flow_id,
            dumps(document).decode(),
            utcnow(),
        )
        if not rows:
            raise FlowExists(
                f"flow {flow_id!r} already exists; PUT /flows/{flow_id} adds a version"
            )
        return _record(rows[0])

    async def put(self, flow_id: str, document: dict[str, Any]) -> FlowRecord:
        for _ in range(_RETRIES):
            try:
                rows = await self._rows(
                    f"INSERT INTO flows ({_COLUMNS}) "
                    "SELECT flow_id, MAX(version) + 1, %s::jsonb, %s FROM flows "
                    f"WHERE flow_id = %s GROUP BY flow_id RETURNING {_COLUMNS}",
                    dumps(document).decode(),
                    utcnow(),
                    flow_id,
                )
            except psycopg.errors.UniqueViolation:
                continue  # another writer took this number: take the next
            if not rows:
                raise _missing(flow_id)
            return _record(rows[0])
        raise RuntimeError(f"could not number a new version of flow {flow_id!r}")

    async def get(self, flow_id: str, version: int | None = None) -> FlowRecord:
        if version is None:
            rows = await self._rows(
                f"SELECT {_COLUMNS} FROM flows WHERE flow_id = %s ORDER BY version DESC LIMIT 1",
                flow_id,
            )
        else:
            rows = await self._rows(
                f"SELECT {_COLUMNS} FROM flows WHERE flow_id = %s AND version = %s",
                flow_id,
                version,
            )
        if not rows:
            raise _missing(flow_id, version)
        return _record(rows[0])

    async def versions(self, flow_id: str) -> list[FlowRecord]:
        rows = await self._rows(
            f"SELECT {_COLUMNS} FROM flows WHERE flow_id = %s ORDER BY version", flow_id
        )
        if not rows:
            raise _missing(flow_id)
        return [_record(row) for row in rows]

    async def latest(self) -> list[FlowRecord]:
        rows = await self._rows(
            f'SELECT DISTINCT ON (flow_id COLLATE "C") {_COLUMNS} FROM flows '
            'ORDER BY flow_id COLLATE "C", version DESC'
        )
        return [_record(row) for row in rows]

    async def delete(self, flow_id: str) -> bool:
        rows = await self._rows("DELETE FROM flows WHERE flow_id = %s RETURNING version", flow_id)
        return bool(rows)
