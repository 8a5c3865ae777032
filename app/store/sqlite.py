"""Thread and run stores in a SQLite file, on one shared ``aiosqlite`` connection.

The connection is the same one LangGraph's ``AsyncSqliteSaver`` uses, so the
process has exactly one writer and never sees "database is locked". Every read
and write is a unit of ``SqliteTrips``: one statement (``... RETURNING`` hands
a written record back) run on aiosqlite's worker thread, sharing its trip and
its commit with whatever else was issued at the same time. Nothing here ever
rolls back: on a shared connection that would also discard the checkpointer's
work.

Storage format:

* timestamps are INTEGER microseconds since the Unix epoch (UTC): exact where
  epoch floats would round, cheap to compare, and ``updated_at`` can be moved
  forward in SQL as ``MAX(now, updated_at + 1)``;
* JSON fields are TEXT written by ``app.serde.dumps``;
* the rowid breaks ties between equal sort keys (insertion order), matching
  the in-memory backend.

Metadata/values filters (and auth ``filters``) are applied twice: a coarse
``json_extract`` predicate lets SQLite skip most rows, and ``contains`` /
``filters.matches`` on the decoded JSON make the answer exactly the
reference semantics. A filtered update or delete checks the row's metadata
on the worker thread, in the same step as the write, so nothing can change
the owner in between.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import aiosqlite

from app.errors import Conflict, RunNotFound, ThreadExists, ThreadNotFound
from app.serde import dumps, loads
from app.store._common import as_utc, check_page, check_search, contains, copy_json, json_filter
from app.store.base import ACTIVE_RUN_STATUSES, Run, RunStatus, Thread, ThreadStatus, utcnow
from app.store.filters import Filters, equality_terms, matches
from app.store.sqlite_trips import SqliteTrips

__all__ = ["SqliteRunStore", "SqliteThreadStore", "connect"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICROSECOND = timedelta(microseconds=1)

_THREADS_SCHEMA = """
CREATE TABLE IF NOT EXISTS threads (
    thread_id   TEXT PRIMARY KEY,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    metadata    TEXT NOT NULL,
    status      TEXT NOT NULL,
    "values"    TEXT,
    interrupts  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS threads_created_at ON threads (created_at);
"""

_RUNS_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id              TEXT PRIMARY KEY,
    thread_id           TEXT NOT NULL,
    assistant_id        TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    status              TEXT NOT NULL,
    metadata            TEXT NOT NULL,
    multitask_strategy  TEXT NOT NULL,
    kwargs              TEXT NOT NULL,
    attempt             INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS runs_thread_created_at ON runs (thread_id, created_at);
"""

_THREAD_COLUMNS = 'thread_id, created_at, updated_at, metadata, status, "values", interrupts'
_RUN_COLUMNS = (
    "run_id, thread_id, assistant_id, created_at, updated_at, status, metadata,"
    " multitask_strategy, kwargs, attempt"
)
_ACTIVE = ", ".join(f"'{status}'" for status in ACTIVE_RUN_STATUSES)

Row = Any  # an ``sqlite3.Row``-compatible tuple, in the column order selected


@asynccontextmanager
async def connect(path: Path) -> AsyncIterator[aiosqlite.Connection]:
    """One connection to ``path`` in WAL mode with ``synchronous=NORMAL``.

    WAL lets readers in other processes proceed while we write; NORMAL skips
    the fsync per commit (a crash can lose the last commits, never corrupt).
    """
    async with aiosqlite.connect(path) as conn:
        await conn.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
        yield conn


def _micros(moment: datetime) -> int:
    return (as_utc(moment) - _EPOCH) // _ONE_MICROSECOND


def _moment(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _text(data: Any) -> str:
    return dumps(data).decode()


def _returning(db: sqlite3.Connection, sql: str, params: Iterable[Any]) -> list[Row]:
    """Run one data-changing statement and return what it RETURNs (no commit:
    ``SqliteTrips`` commits the trip it runs in)."""
    return db.execute(sql, tuple(params)).fetchall()


def _fetchall(db: sqlite3.Connection, sql: str, params: Iterable[Any]) -> list[Row]:
    return db.execute(sql, tuple(params)).fetchall()


async def _write(trips: SqliteTrips, sql: str, params: Iterable[Any]) -> list[Row]:
    return await trips.write(lambda db: _returning(db, sql, params))


async def _read(trips: SqliteTrips, sql: str, params: Iterable[Any]) -> list[Row]:
    return await trips.read(lambda db: _fetchall(db, sql, params))


def _coarse_predicates(column: str, wanted: Mapping[str, Any]) -> tuple[list[str], list[Any]]:
    """SQL that keeps at least every row whose JSON ``column`` contains ``wanted``.

    Scalars are compared with ``json_extract``; objects, arrays and null only
    check the JSON type. Keys a JSON path cannot quote are left to Python.
    """
    clauses: list[str] = []
    params: list[Any] = []
    for key, value in wanted.items():
        if '"' in key or "\\" in key:
            continue
        path = f'$."{key}"'
        if isinstance(value, str | int | float):  # bool is an int: JSON true reads as 1
            clauses.append(f"json_extract({column}, ?) = ?")
            params += [path, value]
        else:
            kind = "null" if value is None else "object" if isinstance(value, dict) else "array"
            clauses.append(f"json_type({column}, ?) = ?")
            params += [path, kind]
    return clauses, params


def _visible_metadata(
    db: sqlite3.Connection, thread_id: str, filters: Filters | None
) -> dict[str, Any] | None:
    """The thread's metadata, or None if it does not exist or ``filters`` hide it."""
    found = db.execute("SELECT metadata FROM threads WHERE thread_id = ?", (thread_id,)).fetchone()
    if found is None:
        return None
    metadata: dict[str, Any] = loads(found[0])
    return metadata if matches(metadata, filters) else None


def _thread_from_row(row: Row) -> Thread:
    thread_id, created_at, updated_at, metadata, status, values, interrupts = row
    return Thread(
        thread_id=thread_id,
        created_at=_moment(created_at),
        updated_at=_moment(updated_at),
        metadata=loads(metadata),
        status=status,
        values=None if values is None else loads(values),
        interrupts=loads(interrupts),
    )


def _run_from_row(row: Row) -> Run:
    (
        run_id,
        thread_id,
        assistant_id,
        created_at,
        updated_at,
        status,
        metadata,
        strategy,
        kwargs,
        attempt,
    ) = row
    return Run(
        run_id=run_id,
        thread_id=thread_id,
        assistant_id=assistant_id,
        created_at=_moment(created_at),
        updated_at=_moment(updated_at),
        status=status,
        metadata=loads(metadata),
        multitask_strategy=strategy,
        kwargs=loads(kwargs),
        attempt=attempt,
    )


class SqliteThreadStore:
    """``ThreadStore`` on the ``threads`` table. Call ``setup()`` once before use."""

    def __init__(self, conn: aiosqlite.Connection, trips: SqliteTrips) -> None:
        self._conn = conn
        self._trips = trips

    async def setup(self) -> None:
        await self._conn.executescript(_THREADS_SCHEMA)
        await self._conn.commit()

    async def create(self, thread: Thread) -> Thread:
        rows = await _write(
            self._trips,
            f"INSERT INTO threads ({_THREAD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
            f" ON CONFLICT (thread_id) DO NOTHING RETURNING {_THREAD_COLUMNS}",
            (
                thread.thread_id,
                _micros(thread.created_at),
                _micros(thread.updated_at),
                _text(thread.metadata),
                thread.status,
                None if thread.values is None else _text(thread.values),
                _text(thread.interrupts),
            ),
        )
        if not rows:
            raise ThreadExists(f"thread {thread.thread_id} already exists")
        return _thread_from_row(rows[0])

    async def get(self, thread_id: str, *, filters: Filters | None = None) -> Thread | None:
        rows = await _read(
            self._trips, f"SELECT {_THREAD_COLUMNS} FROM threads WHERE thread_id = ?", (thread_id,)
        )
        for row in rows:
            thread = _thread_from_row(row)
            return thread if matches(thread.metadata, filters) else None
        return None

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
        assignments = ["updated_at = MAX(?, updated_at + 1)"]
        params: list[Any] = [_micros(utcnow())]
        if status is not None:
            assignments.append("status = ?")
            params.append(status)
        if values is not None:
            assignments.append('"values" = ?')
            params.append(_text(values))
        if interrupts is not None:
            assignments.append("interrupts = ?")
            params.append(_text(interrupts))
        if metadata is None and not filters:
            sql = self._update_sql(assignments)
            rows = await _write(self._trips, sql, [*params, thread_id])
        else:
            patch = None if metadata is None else copy_json(dict(metadata))
            if patch is not None:
                assignments.append("metadata = ?")
            sql = self._update_sql(assignments)

            def merge(db: sqlite3.Connection) -> list[Row]:
                # On the worker thread: no other write can land between this
                # read and the update, so concurrent merges never lose a key
                # and the filters judge the row that is written.
                found = _visible_metadata(db, thread_id, filters)
                if found is None:
                    return []
                extra = [] if patch is None else [_text({**found, **patch})]
                return _returning(db, sql, [*params, *extra, thread_id])

            rows = await self._trips.write(merge)
        if not rows:
            raise ThreadNotFound(f"thread {thread_id} not found")
        return _thread_from_row(rows[0])

    @staticmethod
    def _update_sql(assignments: list[str]) -> str:
        return (
            f"UPDATE threads SET {', '.join(assignments)} WHERE thread_id = ?"
            f" RETURNING {_THREAD_COLUMNS}"
        )

    async def delete(self, thread_id: str, *, filters: Filters | None = None) -> bool:
        sql = "DELETE FROM threads WHERE thread_id = ? RETURNING thread_id"
        if not filters:
            return bool(await _write(self._trips, sql, (thread_id,)))

        def guarded(db: sqlite3.Connection) -> list[Row]:
            if _visible_metadata(db, thread_id, filters) is None:
                return []
            return _returning(db, sql, (thread_id,))

        return bool(await self._trips.write(guarded))

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
        clauses, params = self._filters(wanted_metadata, status, filters)
        value_clauses, value_params = _coarse_predicates('"values"', wanted_values)
        clauses += value_clauses
        params += value_params
        if ids is not None:
            clauses.append("thread_id IN (SELECT value FROM json_each(?))")
            params.append(_text(list(ids)))
        # sort_by and sort_order were checked against a closed set above.
        sql = (
            f"SELECT {_THREAD_COLUMNS} FROM threads WHERE {' AND '.join(clauses) or 'TRUE'}"
            f" ORDER BY {sort_by} {sort_order}, rowid {sort_order}"
        )
        if not wanted_metadata and not wanted_values and not filters:
            rows = await _read(self._trips, f"{sql} LIMIT ? OFFSET ?", [*params, limit, offset])
            return [_thread_from_row(row) for row in rows]
        # The SQL predicate is only a superset, so paging happens here, after
        # the exact check, and stops reading as soon as the page is full.
        found: list[Thread] = []
        if limit == 0:
            return found
        skip = offset
        async with self._conn.execute(sql, params) as cursor:
            async for row in cursor:
                row_metadata = loads(row[3])
                if not contains(row_metadata, wanted_metadata):
                    continue
                if not matches(row_metadata, filters):
                    continue
                if wanted_values and (row[5] is None or not contains(loads(row[5]), wanted_values)):
                    continue
                if skip:
                    skip -= 1
                    continue
                found.append(_thread_from_row(row))
                if len(found) == limit:
                    break
        return found

    async def count(
        self,
        *,
        metadata: Mapping[str, Any] | None = None,
        status: ThreadStatus | None = None,
        filters: Filters | None = None,
    ) -> int:
        wanted = json_filter(metadata)
        clauses, params = self._filters(wanted, status, filters)
        where = " AND ".join(clauses) or "TRUE"
        if not wanted and not filters:
            rows = await _read(self._trips, f"SELECT COUNT(*) FROM threads WHERE {where}", params)
            return int(next(iter(rows))[0])
        total = 0
        async with self._conn.execute(f"SELECT metadata FROM threads WHERE {where}", params) as cur:
            async for row in cur:
                row_metadata = loads(row[0])
                total += contains(row_metadata, wanted) and matches(row_metadata, filters)
        return total

    @staticmethod
    def _filters(
        wanted_metadata: Mapping[str, Any],
        status: ThreadStatus | None,
        filters: Filters | None = None,
    ) -> tuple[list[str], list[Any]]:
        clauses, params = _coarse_predicates("metadata", wanted_metadata)
        auth_clauses, auth_params = _coarse_predicates(
            "metadata", json_filter(equality_terms(filters))
        )
        clauses += auth_clauses
        params += auth_params
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        return clauses, params


class SqliteRunStore:
    """``RunStore`` on the ``runs`` table. Call ``setup()`` once before use."""

    def __init__(self, conn: aiosqlite.Connection, trips: SqliteTrips) -> None:
        self._conn = conn
        self._trips = trips

    async def setup(self) -> None:
        await self._conn.executescript(_RUNS_SCHEMA)
        # Files written before runs had an attempt number get the column.
        async with self._conn.execute("PRAGMA table_info(runs)") as cursor:
            columns = {row[1] async for row in cursor}
        if "attempt" not in columns:
            await self._conn.execute(
                "ALTER TABLE runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1"
            )
        await self._conn.commit()

    async def create(self, run: Run) -> Run:
        rows = await _write(
            self._trips,
            f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            f" ON CONFLICT (run_id) DO NOTHING RETURNING {_RUN_COLUMNS}",
            (
                run.run_id,
                run.thread_id,
                run.assistant_id,
                _micros(run.created_at),
                _micros(run.updated_at),
                run.status,
                _text(run.metadata),
                run.multitask_strategy,
                _text(run.kwargs),
                run.attempt,
            ),
        )
        if not rows:
            raise Conflict(f"run {run.run_id} already exists")
        return _run_from_row(rows[0])

    async def get(self, run_id: str, *, thread_id: str | None = None) -> Run | None:
        sql = f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?"
        params = [run_id]
        if thread_id is not None:
            sql += " AND thread_id = ?"
            params.append(thread_id)
        for row in await _read(self._trips, sql, params):
            return _run_from_row(row)
        return None

    async def set_status(
        self, run_id: str, status: RunStatus, *, attempt: int | None = None
    ) -> Run:
        rows = await _write(
            self._trips,
            "UPDATE runs SET status = ?, updated_at = MAX(?, updated_at + 1),"
            " attempt = COALESCE(?, attempt) WHERE run_id = ?"
            f" RETURNING {_RUN_COLUMNS}",
            (status, _micros(utcnow()), attempt, run_id),
        )
        if not rows:
            raise RunNotFound(f"run {run_id} not found")
        return _run_from_row(rows[0])

    async def for_thread(
        self,
        thread_id: str,
        *,
        limit: int = 10,
        offset: int = 0,
        status: RunStatus | None = None,
    ) -> list[Run]:
        check_page(limit, offset)
        status_clause = "" if status is None else " AND status = ?"
        params: list[Any] = [thread_id] if status is None else [thread_id, status]
        rows = await _read(
            self._trips,
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE thread_id = ?{status_clause}"
            " ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [_run_from_row(row) for row in rows]

    async def active(self, thread_id: str) -> list[Run]:
        rows = await _read(
            self._trips,
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE thread_id = ? AND status IN ({_ACTIVE})"
            " ORDER BY created_at, rowid",
            (thread_id,),
        )
        return [_run_from_row(row) for row in rows]

    async def all_active(self, *, limit: int = 1000) -> list[Run]:
        check_page(limit, 0)
        rows = await _read(
            self._trips,
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE status IN ({_ACTIVE})"
            " ORDER BY created_at, rowid LIMIT ?",
            (limit,),
        )
        return [_run_from_row(row) for row in rows]

    async def delete(self, run_id: str) -> bool:
        rows = await _write(
            self._trips, "DELETE FROM runs WHERE run_id = ? RETURNING run_id", (run_id,)
        )
        return bool(rows)

    async def delete_thread(self, thread_id: str) -> int:
        rows = await _write(
            self._trips, "DELETE FROM runs WHERE thread_id = ? RETURNING run_id", (thread_id,)
        )
        return len(rows)
