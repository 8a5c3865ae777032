"""``CronStore`` in Postgres: table ``crons`` (migration 0004), shared by every instance.

``claim`` is one conditional UPDATE (``... WHERE next_run_date = expected``).
Under READ COMMITTED, schedulers in several processes that saw the same due
tick race on the row: the first UPDATE locks it, the others wait, then
re-check the WHERE against the committed row, find ``next_run_date`` moved,
and change nothing. Exactly one of them wins the tick and creates its run.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from psycopg.rows import DictRow

from app.store._common import json_filter
from app.store.base import utcnow
from app.store.crons import Cron, changed, check_sort
from app.store.postgres import Pool
from app.store.postgres_tx import (
    Columns,
    keeps_metadata,
    metadata_where,
    page,
    rows,
    transaction,
)

__all__ = ["PostgresCronStore"]

_CRON = Columns(Cron, frozenset({"payload", "metadata"}))
_COLUMNS = _CRON.select
_SORT_SQL = {key: f'{key} COLLATE "C"' for key in ("cron_id", "assistant_id", "thread_id")}


def _cron(row: DictRow) -> Cron:
    found: Cron = _CRON.read(row)
    return found


class PostgresCronStore:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def create(self, cron: Cron) -> Cron:
        created = await rows(
            self._pool,
            f"INSERT INTO crons ({_COLUMNS}) VALUES ({_CRON.placeholders(_CRON.names)})"
            f" ON CONFLICT (cron_id) DO NOTHING RETURNING {_COLUMNS}",
            _CRON.params(cron, _CRON.names),
        )
        if not created:
            raise ValueError(f"cron {cron.cron_id} already exists")
        return _cron(created[0])

    async def get(self, cron_id: str) -> Cron | None:
        found = await rows(
            self._pool, f"SELECT {_COLUMNS} FROM crons WHERE cron_id = %s", (cron_id,)
        )
        return _cron(found[0]) if found else None

    async def update(self, cron_id: str, **changes: Any) -> Cron | None:
        names = [name for name in _CRON.names if name != "cron_id"]
        async with transaction(self._pool) as conn:
            cursor = await conn.execute(
                f"SELECT {_COLUMNS} FROM crons WHERE cron_id = %s FOR UPDATE", (cron_id,)
            )
            row = await cursor.fetchone()
            if row is None:
                return None
            new = changed(_cron(row), changes, utcnow())
            cursor = await conn.execute(
                f"UPDATE crons SET {_CRON.assignments(names)} WHERE cron_id = %s"
                f" RETURNING {_COLUMNS}",
                [*_CRON.params(new, names), cron_id],
            )
            written = await cursor.fetchone()
        assert written is not None  # locked in this transaction
        return _cron(written)

    async def delete(self, cron_id: str) -> bool:
        gone = await rows(
            self._pool, "DELETE FROM crons WHERE cron_id = %s RETURNING cron_id", (cron_id,)
        )
        return bool(gone)

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
        where, params, exact = metadata_where(
            wanted, {"assistant_id": assistant_id, "thread_id": thread_id, "enabled": enabled}
        )
        # sort_by and sort_order were checked against closed sets. NULLs sort
        # first ascending and last descending, as in SQLite and the memory store.
        nulls = "FIRST" if sort_order == "asc" else "LAST"
        sql = (
            f"SELECT {_COLUMNS} FROM crons WHERE {where}"
            f" ORDER BY {_SORT_SQL.get(sort_by, sort_by)} {sort_order} NULLS {nulls},"
            f" seq {sort_order}"
        )
        found = await page(
            self._pool,
            sql,
            params,
            exact=exact,
            keep=keeps_metadata(wanted),
            limit=limit,
            offset=offset,
        )
        return [_cron(row) for row in found]

    async def count(
        self,
        *,
        assistant_id: str | None = None,
        thread_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> int:
        wanted = json_filter(metadata)
        where, params, _ = metadata_where(
            wanted, {"assistant_id": assistant_id, "thread_id": thread_id}
        )
        found = await rows(self._pool, f"SELECT metadata FROM crons WHERE {where}", params)
        return sum(keeps_metadata(wanted)(row) for row in found)

    async def due(self, now: datetime, limit: int = 100) -> list[Cron]:
        found = await rows(
            self._pool,
            f"SELECT {_COLUMNS} FROM crons WHERE enabled AND next_run_date <= %s"
            " ORDER BY next_run_date LIMIT %s",
            (now, limit),
        )
        return [_cron(row) for row in found]

    async def claim(self, cron_id: str, expected: datetime, following: datetime | None) -> bool:
        won = await rows(
            self._pool,
            "UPDATE crons SET next_run_date = %s WHERE cron_id = %s AND next_run_date = %s"
            " RETURNING cron_id",
            (following, cron_id, expected),
        )
        return bool(won)
