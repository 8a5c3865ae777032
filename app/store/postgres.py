"""Thread and run stores in Postgres, on a psycopg 3 connection pool.

The pool is the one LangGraph's ``AsyncPostgresSaver`` uses too (see
``app.store.postgres_pool``): autocommit connections with dict rows. Every method is one
statement on one pooled connection; writes hand the record back with
``RETURNING``, and read-modify-writes are single statements (a metadata merge
is ``metadata || patch``), so concurrent writers in any number of processes
never lose an update.

Storage format (tables in ``app/store/migrations``):

* timestamps are ``TIMESTAMPTZ`` (microseconds, like Python's datetime), and
  ``updated_at`` moves forward as ``GREATEST(now, updated_at + 1 µs)``;
* JSON fields are ``jsonb`` written from ``app.serde.dumps``;
* ``seq`` (an identity column) breaks ties between equal sort keys in
  insertion order, matching the other backends.

Metadata/values filters are exact SQL (``column -> key = value``, with a
``@>`` containment the GIN index can serve) except where Python's equality,
the reference semantics of ``_common.contains``, is looser than JSON's: a
filter value holding a boolean, or a number equal to 0 or 1 (``True == 1``
in Python). Such keys are narrowed in SQL to rows that have the key, then
checked in Python, and only that search is paged in Python.

Auth ``filters`` (``app.store.filters``) narrow rows in SQL the same way
(equality terms as above, ``$contains`` keys by existence) and are always
decided by ``filters.matches``; a filtered update or delete reads the row
``FOR UPDATE`` and checks it in the same transaction as the write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg_pool import AsyncConnectionPool

from app.errors import Conflict, InvalidInput, RunNotFound, ThreadExists, ThreadNotFound
from app.serde import dumps
from app.store._common import as_utc, check_page, check_search, contains, json_filter
from app.store.base import ACTIVE_RUN_STATUSES, Run, RunStatus, Thread, ThreadStatus, utcnow
from app.store.filters import Filters, equality_terms, matches

__all__ = ["Pool", "PostgresRunStore", "PostgresThreadStore"]

Pool = AsyncConnectionPool[AsyncConnection[DictRow]]

_THREAD_COLUMNS = 'thread_id, created_at, updated_at, metadata, status, "values", interrupts'
_RUN_COLUMNS = (
    "run_id, thread_id, assistant_id, created_at, updated_at, status, metadata,"
    " multitask_strategy, kwargs, attempt"
)
_ACTIVE = ", ".join(f"'{status}'" for status in ACTIVE_RUN_STATUSES)
# Text sort keys compare by code point, as Python's str does, whatever the
# database's default collation.
_SORT_SQL = {
    "created_at": "created_at",
    "updated_at": "updated_at",
    "thread_id": 'thread_id COLLATE "C"',
    "status": 'status COLLATE "C"',
}
_BUMP = "GREATEST(%s, updated_at + interval '1 microsecond')"


def _jsonb(data: Any) -> str:
    return dumps(data).decode()


async def _rows(pool: Pool, sql: str, params: Sequence[Any] = ()) -> list[DictRow]:
    """Run one statement on a pooled connection; the rows it returns.

    Postgres refuses some JSON that JSON allows (a string holding
    ``\\u0000``): that is the caller's data, so a 422, not a 500.
    """
    try:
        async with pool.connection() as conn:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchall() if cursor.description else []
    except psycopg.errors.DataError as exc:
        raise InvalidInput(f"Postgres cannot store this value: {exc.diag.message_primary}") from exc


def _sql_exact(value: Any) -> bool:
    """Whether JSON equality in SQL answers what Python's ``==`` would for ``value``."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value not in (0, 1)
    if isinstance(value, list):
        return all(_sql_exact(item) for item in value)
    if isinstance(value, dict):
        return all(_sql_exact(item) for item in value.values())
    return True


def _json_predicates(column: str, wanted: Mapping[str, Any]) -> tuple[list[str], list[Any], bool]:
    """SQL keeping the rows whose JSON ``column`` contains ``wanted``; exact when the
    last item is True, else a superset that Python must narrow with ``contains``."""
    clauses: list[str] = []
    params: list[Any] = []
    exact = {key: value for key, value in wanted.items() if _sql_exact(value)}
    if exact:
        clauses.append(f"{column} @> %s::jsonb")  # served by the GIN index
        params.append(_jsonb(exact))
        for key, value in exact.items():
            clauses.append(f"{column} -> %s = %s::jsonb")  # @> alone accepts supersets
            params += [key, _jsonb(value)]
    loose = [key for key in wanted if key not in exact]
    for key in loose:
        clauses.append(f"jsonb_exists({column}, %s)")
        params.append(key)
    return clauses, params, not loose


def _filter_predicates(filters: Filters | None) -> tuple[list[str], list[Any]]:
    """SQL keeping at least every row whose metadata ``matches`` the auth filters."""
    if not filters:
        return [], []
    terms = json_filter(equality_terms(filters))
    clauses, params, _ = _json_predicates("metadata", terms)
    for key in filters:
        if key not in terms:  # $contains (or a shape no store knows): the key must exist
            clauses.append("jsonb_exists(metadata, %s)")
            params.append(key)
    return clauses, params


async def _guarded_write(
    pool: Pool, thread_id: str, filters: Filters, sql: str, params: Sequence[Any]
) -> list[DictRow]:
    """Run ``sql`` only if the thread exists and ``filters`` match it, in one transaction."""
    try:
        async with pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(
                "SELECT metadata FROM threads WHERE thread_id = %s FOR UPDATE", (thread_id,)
            )
            found = await cursor.fetchone()
            if found is None or not matches(found["metadata"], filters):
                return []
            cursor = await conn.execute(sql, params)
            return await cursor.fetchall() if cursor.description else []
    except psycopg.errors.DataError as exc:
        raise InvalidInput(f"Postgres cannot store this value: {exc.diag.message_primary}") from exc


def _thread(row: DictRow) -> Thread:
    return Thread(
        thread_id=row["thread_id"],
        created_at=as_utc(row["created_at"]),
        updated_at=as_utc(row["updated_at"]),
        metadata=row["metadata"],
        status=row["status"],
        values=row["values"],
        interrupts=row["interrupts"],
    )


def _run(row: DictRow) -> Run:
    return Run(
        run_id=row["run_id"],
        thread_id=row["thread_id"],
        assistant_id=row["assistant_id"],
        created_at=as_utc(row["created_at"]),
        updated_at=as_utc(row["updated_at"]),
        status=row["status"],
        metadata=row["metadata"],
        multitask_strategy=row["multitask_strategy"],
        kwargs=row["kwargs"],
        attempt=row["attempt"],
    )


class PostgresThreadStore:
    """``ThreadStore`` on the ``threads`` table (created by ``app.store.migrations``)."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def create(self, thread: Thread) -> Thread:
        rows = await _rows(
            self._pool,
            f"INSERT INTO threads ({_THREAD_COLUMNS})"
            " VALUES (%s, %s, %s, %s::jsonb, %s, %s::jsonb, %s::jsonb)"
            f" ON CONFLICT (thread_id) DO NOTHING RETURNING {_THREAD_COLUMNS}",
            (
                thread.thread_id,
                as_utc(thread.created_at),
                as_utc(thread.updated_at),
                _jsonb(thread.metadata),
                thread.status,
                None if thread.values is None else _jsonb(thread.values),
                _jsonb(thread.interrupts),
            ),
        )
        if not rows:
            raise ThreadExists(f"thread {thread.thread_id} already exists")
        return _thread(rows[0])

    async def get(self, thread_id: str, *, filters: Filters | None = None) -> Thread | None:
        rows = await _rows(
            self._pool, f"SELECT {_THREAD_COLUMNS} FROM threads WHERE thread_id = %s", (thread_id,)
        )
        if not rows or not matches(rows[0]["metadata"], filters):
            return None
        return _thread(rows[0])

    async def update(
        self,
        thread_id: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        status: ThreadStatus | None = None,
        values: dict[str, Any] | None = None,
        interrupts: dict[str, Any] | None = None,
        filters: Filters | None = None,
    ) -> Thread:
        assignments = [f"updated_at = {_BUMP}"]
        params: list[Any] = [utcnow()]
        if status is not None:
            assignments.append("status = %s")
            params.append(status)
        if values is not None:
            assignments.append('"values" = %s::jsonb')
            params.append(_jsonb(values))
        if interrupts is not None:
            assignments.append("interrupts = %s::jsonb")
            params.append(_jsonb(interrupts))
        if metadata is not None:
            # One statement under the row lock: concurrent merges never lose a key.
            assignments.append("metadata = metadata || %s::jsonb")
            params.append(_jsonb(dict(metadata)))
        sql = (
            f"UPDATE threads SET {', '.join(assignments)} WHERE thread_id = %s"
            f" RETURNING {_THREAD_COLUMNS}"
        )
        if filters:
            rows = await _guarded_write(self._pool, thread_id, filters, sql, [*params, thread_id])
        else:
            rows = await _rows(self._pool, sql, [*params, thread_id])
        if not rows:
            raise ThreadNotFound(f"thread {thread_id} not found")
        return _thread(rows[0])

    async def delete(self, thread_id: str, *, filters: Filters | None = None) -> bool:
        sql = "DELETE FROM threads WHERE thread_id = %s RETURNING thread_id"
        if filters:
            return bool(await _guarded_write(self._pool, thread_id, filters, sql, (thread_id,)))
        return bool(await _rows(self._pool, sql, (thread_id,)))

    async def search(
        self,
        *,
        metadata: Mapping[str, Any] | None = None,
        values: Mapping[str, Any] | None = None,
        status: ThreadStatus | None = None,
        ids: Sequence[str] | None = None,
        limit: int = 10,
        offset: int = 0,
        sort_by: Literal["created_at", "updated_at", "thread_id", "status"] = "created_at",
        sort_order: Literal["asc", "desc"] = "desc",
        filters: Filters | None = None,
    ) -> list[Thread]:
        check_search(sort_by, sort_order, limit, offset)
        if ids is not None and not ids:
            return []
        wanted_metadata, wanted_values = json_filter(metadata), json_filter(values)
        clauses, params, exact = _json_predicates("metadata", wanted_metadata)
        value_clauses, value_params, values_exact = _json_predicates('"values"', wanted_values)
        auth_clauses, auth_params = _filter_predicates(filters)
        clauses += value_clauses + auth_clauses
        params += value_params + auth_params
        if status is not None:
            clauses.append("status = %s")
            params.append(status)
        if ids is not None:
            clauses.append("thread_id = ANY(%s)")
            params.append(list(ids))
        # sort_by and sort_order were checked against a closed set above.
        sql = (
            f"SELECT {_THREAD_COLUMNS} FROM threads WHERE {' AND '.join(clauses) or 'TRUE'}"
            f" ORDER BY {_SORT_SQL[sort_by]} {sort_order}, seq {sort_order}"
        )
        if exact and values_exact and not filters:
            rows = await _rows(self._pool, f"{sql} LIMIT %s OFFSET %s", [*params, limit, offset])
            return [_thread(row) for row in rows]
        found = [
            _thread(row)
            for row in await _rows(self._pool, sql, params)
            if contains(row["metadata"], wanted_metadata)
            and (not wanted_values or contains(row["values"], wanted_values))
            and matches(row["metadata"], filters)
        ]
        return found[offset : offset + limit]

    async def count(
        self,
        *,
        metadata: Mapping[str, Any] | None = None,
        status: ThreadStatus | None = None,
        filters: Filters | None = None,
    ) -> int:
        wanted = json_filter(metadata)
        clauses, params, exact = _json_predicates("metadata", wanted)
        auth_clauses, auth_params = _filter_predicates(filters)
        clauses += auth_clauses
        params += auth_params
        if status is not None:
            clauses.append("status = %s")
            params.append(status)
        where = " AND ".join(clauses) or "TRUE"
        if exact and not filters:
            counted = f"SELECT COUNT(*) AS n FROM threads WHERE {where}"
            return int((await _rows(self._pool, counted, params))[0]["n"])
        rows = await _rows(self._pool, f"SELECT metadata FROM threads WHERE {where}", params)
        return sum(
            contains(row["metadata"], wanted) and matches(row["metadata"], filters) for row in rows
        )


class PostgresRunStore:
    """``RunStore`` on the ``runs`` table (created by ``app.store.migrations``)."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def create(self, run: Run) -> Run:
        rows = await _rows(
            self._pool,
            f"INSERT INTO runs ({_RUN_COLUMNS})"
            " VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s::jsonb, %s)"
            f" ON CONFLICT (run_id) DO NOTHING RETURNING {_RUN_COLUMNS}",
            (
                run.run_id,
                run.thread_id,
                run.assistant_id,
                as_utc(run.created_at),
                as_utc(run.updated_at),
                run.status,
                _jsonb(run.metadata),
                run.multitask_strategy,
                _jsonb(run.kwargs),
                run.attempt,
            ),
        )
        if not rows:
            raise Conflict(f"run {run.run_id} already exists")
        return _run(rows[0])

    async def get(self, run_id: str, *, thread_id: str | None = None) -> Run | None:
        sql = f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = %s"
        params = [run_id]
        if thread_id is not None:
            sql += " AND thread_id = %s"
            params.append(thread_id)
        rows = await _rows(self._pool, sql, params)
        return _run(rows[0]) if rows else None

    async def set_status(
        self, run_id: str, status: RunStatus, *, attempt: int | None = None
    ) -> Run:
        rows = await _rows(
            self._pool,
            f"UPDATE runs SET status = %s, updated_at = {_BUMP},"
            " attempt = COALESCE(%s, attempt) WHERE run_id = %s"
            f" RETURNING {_RUN_COLUMNS}",
            (status, utcnow(), attempt, run_id),
        )
        if not rows:
            raise RunNotFound(f"run {run_id} not found")
        return _run(rows[0])

    async def for_thread(
        self,
        thread_id: str,
        *,
        limit: int = 10,
        offset: int = 0,
        status: RunStatus | None = None,
    ) -> list[Run]:
        check_page(limit, offset)
        status_clause = "" if status is None else " AND status = %s"
        params: list[Any] = [thread_id] if status is None else [thread_id, status]
        rows = await _rows(
            self._pool,
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE thread_id = %s{status_clause}"
            " ORDER BY created_at DESC, seq DESC LIMIT %s OFFSET %s",
            [*params, limit, offset],
        )
        return [_run(row) for row in rows]

    async def active(self, thread_id: str) -> list[Run]:
        rows = await _rows(
            self._pool,
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE thread_id = %s AND status IN ({_ACTIVE})"
            " ORDER BY created_at, seq",
            (thread_id,),
        )
        return [_run(row) for row in rows]

    async def all_active(self, *, limit: int = 1000) -> list[Run]:
        check_page(limit, 0)
        rows = await _rows(
            self._pool,
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE status IN ({_ACTIVE})"
            " ORDER BY created_at, seq LIMIT %s",
            (limit,),
        )
        return [_run(row) for row in rows]

    async def delete(self, run_id: str) -> bool:
        rows = await _rows(
            self._pool, "DELETE FROM runs WHERE run_id = %s RETURNING run_id", (run_id,)
        )
        return bool(rows)

    async def delete_thread(self, thread_id: str) -> int:
        rows = await _rows(
            self._pool, "DELETE FROM runs WHERE thread_id = %s RETURNING run_id", (thread_id,)
        )
        return len(rows)
