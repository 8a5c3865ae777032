"""``AssistantStore`` on SQLite: tables ``assistants`` and ``assistant_versions``.

Runs on the shared connection through ``SqliteTrips``, like the thread and
run stores (``app.store.sqlite``), with the same formats: INTEGER
microseconds for times, JSON as TEXT. A read-modify-write (update,
set_latest) is one unit, so it is atomic on the connection. The SQL is kept
to what Postgres also speaks (no JSON functions in the schema), so the
Postgres store can mirror it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import aiosqlite

from app.errors import AssistantNotFound
from app.serde import loads
from app.store._common import contains, json_filter
from app.store.assistants import (
    SERVER_KEPT,
    Assistant,
    AssistantExists,
    AssistantSortKey,
    AssistantVersion,
    check_sort,
    from_version,
    name_matches,
    updated,
)
from app.store.base import utcnow
from app.store.sqlite import _coarse_predicates, _micros, _moment
from app.store.sqlite_columns import SqliteColumns
from app.store.sqlite_trips import SqliteTrips

__all__ = ["SqliteAssistantStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS assistants (
    assistant_id  TEXT PRIMARY KEY,
    graph_id      TEXT NOT NULL,
    name          TEXT NOT NULL,
    description   TEXT,
    config        TEXT NOT NULL,
    context       TEXT NOT NULL,
    metadata      TEXT NOT NULL,
    version       INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS assistant_versions (
    assistant_id  TEXT NOT NULL,
    version       INTEGER NOT NULL,
    graph_id      TEXT NOT NULL,
    name          TEXT NOT NULL,
    description   TEXT,
    config        TEXT NOT NULL,
    context       TEXT NOT NULL,
    metadata      TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (assistant_id, version)
);
"""

_ASSISTANT = SqliteColumns(
    Assistant,
    json=frozenset({"config", "context", "metadata"}),
    times=frozenset({"created_at", "updated_at"}),
)
_VERSION = SqliteColumns(AssistantVersion, json=_ASSISTANT.json, times=frozenset({"created_at"}))
_COLUMNS = _ASSISTANT.select
_VERSION_COLUMNS = _VERSION.select
# What ``update`` and ``set_latest`` rewrite: all but the id and the creation time.
_CHANGING = [name for name in _ASSISTANT.names if name not in ("assistant_id", "created_at")]


def _assistant(row: Sequence[Any]) -> Assistant:
    found: Assistant = _ASSISTANT.read(row)
    return found


def _version(row: Sequence[Any]) -> AssistantVersion:
    found: AssistantVersion = _VERSION.read(row)
    return found


def _insert_version(db: sqlite3.Connection, version: AssistantVersion) -> None:
    db.execute(_VERSION.insert("assistant_versions"), _VERSION.params(version))


def _replace(db: sqlite3.Connection, a: Assistant) -> None:
    db.execute(
        f"UPDATE assistants SET {_ASSISTANT.assignments(_CHANGING)} WHERE assistant_id = ?",
        (*_ASSISTANT.params(a, _CHANGING), a.assistant_id),
    )


def _get(db: sqlite3.Connection, assistant_id: str) -> Assistant | None:
    row = db.execute(
        f"SELECT {_COLUMNS} FROM assistants WHERE assistant_id = ?", (assistant_id,)
    ).fetchone()
    return None if row is None else _assistant(row)


def _create(db: sqlite3.Connection, assistant: Assistant) -> bool:
    inserted = db.execute(
        f"{_ASSISTANT.insert('assistants')} ON CONFLICT (assistant_id) DO NOTHING"
        " RETURNING assistant_id",
        _ASSISTANT.params(assistant),
    ).fetchall()
    if inserted:
        _insert_version(db, assistant.as_version())
    return bool(inserted)


def _delete(db: sqlite3.Connection, assistant_id: str) -> bool:
    db.execute("DELETE FROM assistant_versions WHERE assistant_id = ?", (assistant_id,))
    gone = db.execute(
        "DELETE FROM assistants WHERE assistant_id = ? RETURNING assistant_id", (assistant_id,)
    ).fetchall()
    return bool(gone)


class SqliteAssistantStore:
    """Call ``setup()`` once before use."""

    def __init__(self, conn: aiosqlite.Connection, trips: SqliteTrips) -> None:
        self._conn = conn
        self._trips = trips

    async def setup(self) -> None:
        await self._conn.executescript(_SCHEMA)
        await self._conn.commit()

    async def create(self, assistant: Assistant) -> Assistant:
        record = Assistant(**{**assistant.to_json(), "version": 1})
        if not await self._trips.write(lambda db: _create(db, record)):
            raise AssistantExists(f"assistant {assistant.assistant_id} already exists")
        found = await self.get(assistant.assistant_id)
        assert found is not None
        return found

    async def get(self, assistant_id: str) -> Assistant | None:
        return await self._trips.read(lambda db: _get(db, assistant_id))

    async def update(
        self,
        assistant_id: str,
        *,
        graph_id: str | None = None,
        config: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        name: str | None = None,
        description: str | None = None,
    ) -> Assistant:
        def unit(db: sqlite3.Connection) -> Assistant | None:
            current = _get(db, assistant_id)
            if current is None:
                return None
            (latest,) = db.execute(
                "SELECT MAX(version) FROM assistant_versions WHERE assistant_id = ?",
                (assistant_id,),
            ).fetchone()
            new = updated(
                current,
                version=int(latest or 0) + 1,
                now=_moment(max(_micros(utcnow()), _micros(current.updated_at) + 1)),
                graph_id=graph_id,
                config=config,
                context=context,
                metadata=metadata,
                name=name,
                description=description,
            )
            _replace(db, new)
            _insert_version(db, new.as_version())
            return new

        new = await self._trips.write(unit)
        if new is None:
            raise AssistantNotFound(f"assistant {assistant_id} not found")
        return new

    async def delete(self, assistant_id: str) -> bool:
        return await self._trips.write(lambda db: _delete(db, assistant_id))

    @staticmethod
    def _where(
        graph_id: str | None, wanted: Mapping[str, Any], name: str | None
    ) -> tuple[str, list[Any]]:
        clauses, params = _coarse_predicates("metadata", wanted)
        if graph_id is not None:
            clauses.append("graph_id = ?")
            params.append(graph_id)
        if name:
            clauses.append("INSTR(LOWER(name), LOWER(?)) > 0")
            params.append(name)
        return " AND ".join(clauses) or "TRUE", params

    async def search(
        self,
        *,
        graph_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        name: str | None = None,
        limit: int = 10,
        offset: int = 0,
        sort_by: AssistantSortKey = "created_at",
        sort_order: Literal["asc", "desc"] = "desc",
    ) -> list[Assistant]:
        check_sort(sort_by, sort_order, limit, offset)
        wanted = json_filter(metadata)
        where, params = self._where(graph_id, wanted, name)
        # sort_by and sort_order were checked against closed sets.
        sql = (
            f"SELECT {_COLUMNS} FROM assistants WHERE {where}"
            f" ORDER BY {sort_by} {sort_order}, rowid {sort_order}"
        )

        def unit(db: sqlite3.Connection) -> list[Assistant]:
            if not wanted:
                rows = db.execute(f"{sql} LIMIT ? OFFSET ?", [*params, limit, offset])
                return [_assistant(row) for row in rows]
            # The JSON predicate is a superset: page after the exact check.
            found = (_assistant(row) for row in db.execute(sql, params))
            exact = (
                a for a in found if contains(a.metadata, wanted) and name_matches(a.name, name)
            )
            return [a for i, a in zip(range(offset + limit), exact, strict=False) if i >= offset]

        return await self._trips.read(unit)

    async def count(
        self,
        *,
        graph_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> int:
        wanted = json_filter(metadata)
        where, params = self._where(graph_id, wanted, name)

        def unit(db: sqlite3.Connection) -> int:
            rows = db.execute(f"SELECT metadata FROM assistants WHERE {where}", params)
            return sum(contains(loads(row[0]), wanted) for row in rows)

        return await self._trips.read(unit)

    async def versions(
        self,
        assistant_id: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> list[AssistantVersion]:
        check_sort("created_at", "desc", limit, offset)
        wanted = json_filter(metadata)

        def unit(db: sqlite3.Connection) -> list[AssistantVersion]:
            rows = db.execute(
                f"SELECT {_VERSION_COLUMNS} FROM assistant_versions WHERE assistant_id = ?"
                " ORDER BY version DESC",
                (assistant_id,),
            )
            found = (v for v in map(_version, rows) if contains(v.metadata, wanted))
            return [v for i, v in zip(range(offset + limit), found, strict=False) if i >= offset]

        return await self._trips.read(unit)

    async def set_latest(self, assistant_id: str, version: int) -> Assistant:
        def unit(db: sqlite3.Connection) -> Assistant | str:
            current = _get(db, assistant_id)
            if current is None:
                return f"assistant {assistant_id} not found"
            row = db.execute(
                f"SELECT {_VERSION_COLUMNS} FROM assistant_versions"
                " WHERE assistant_id = ? AND version = ?",
                (assistant_id, version),
            ).fetchone()
            if row is None:
                return f"assistant {assistant_id} has no version {version}"
            now = _moment(max(_micros(utcnow()), _micros(current.updated_at) + 1))
            new = from_version(current, _version(row), now=now)
            _replace(db, new)
            return new

        outcome = await self._trips.write(unit)
        if isinstance(outcome, str):
            raise AssistantNotFound(outcome)
        return outcome

    async def sync_system(self, assistants: Sequence[Assistant]) -> None:
        keep = {a.assistant_id for a in assistants}

        def unit(db: sqlite3.Connection) -> None:
            rows = db.execute("SELECT assistant_id, metadata FROM assistants").fetchall()
            for assistant_id, metadata in rows:
                if assistant_id not in keep and loads(metadata).get("created_by") in SERVER_KEPT:
                    _delete(db, assistant_id)
            for assistant in assistants:
                if not _create(db, Assistant(**{**assistant.to_json(), "version": 1})):
                    # A flow's new version may describe it anew (search shows it).
                    db.execute(
                        "UPDATE assistants SET description = ?"
                        " WHERE assistant_id = ? AND description IS NOT ?",
                        (assistant.description, assistant.assistant_id, assistant.description),
                    )

        await self._trips.write(unit)
