"""``AssistantStore`` in Postgres: tables ``assistants``, ``assistant_versions`` (migration 0004).

Every instance sharing the database sees the same assistants and versions. A
read-modify-write (``update``, ``set_latest``) reads the row ``FOR UPDATE``
in the transaction that writes it, so concurrent updates from any number of
processes are serialised and each gets its own version number. Times are
``TIMESTAMPTZ``, JSON is ``jsonb``; ``seq`` breaks sort ties in insertion
order, as SQLite's rowid does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from app.errors import AssistantNotFound
from app.store._common import contains, json_filter, next_update_stamp
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
from app.store.postgres import Pool
from app.store.postgres_tx import (
    Columns,
    keeps_metadata,
    metadata_where,
    page,
    rows,
    transaction,
)

__all__ = ["PostgresAssistantStore"]

_ASSISTANT = Columns(Assistant, frozenset({"config", "context", "metadata"}))
_VERSION = Columns(AssistantVersion, _ASSISTANT.json)
_COLUMNS = _ASSISTANT.select
_VERSION_COLUMNS = _VERSION.select
# Text keys compare by code point, as Python's str does, whatever the collation.
_SORT_SQL = {key: f'{key} COLLATE "C"' for key in ("assistant_id", "graph_id", "name")}


def _assistant(row: DictRow) -> Assistant:
    found: Assistant = _ASSISTANT.read(row)
    return found


def _version(row: DictRow) -> AssistantVersion:
    found: AssistantVersion = _VERSION.read(row)
    return found


async def _insert_version(conn: AsyncConnection[DictRow], version: AssistantVersion) -> None:
    await conn.execute(
        f"INSERT INTO assistant_versions ({_VERSION_COLUMNS})"
        f" VALUES ({_VERSION.placeholders(_VERSION.names)})",
        _VERSION.params(version, _VERSION.names),
    )


async def _create(conn: AsyncConnection[DictRow], assistant: Assistant) -> Assistant | None:
    record = dataclasses.replace(assistant, version=1)
    cursor = await conn.execute(
        f"INSERT INTO assistants ({_COLUMNS}) VALUES ({_ASSISTANT.placeholders(_ASSISTANT.names)})"
        f" ON CONFLICT (assistant_id) DO NOTHING RETURNING {_COLUMNS}",
        _ASSISTANT.params(record, _ASSISTANT.names),
    )
    row = await cursor.fetchone()
    if row is None:
        return None
    await _insert_version(conn, record.as_version())
    return _assistant(row)


async def _locked(conn: AsyncConnection[DictRow], assistant_id: str) -> Assistant:
    cursor = await conn.execute(
        f"SELECT {_COLUMNS} FROM assistants WHERE assistant_id = %s FOR UPDATE", (assistant_id,)
    )
    row = await cursor.fetchone()
    if row is None:
        raise AssistantNotFound(f"assistant {assistant_id} not found")
    return _assistant(row)


async def _replace(conn: AsyncConnection[DictRow], new: Assistant) -> Assistant:
    names = [name for name in _ASSISTANT.names if name not in ("assistant_id", "created_at")]
    cursor = await conn.execute(
        f"UPDATE assistants SET {_ASSISTANT.assignments(names)}"
        f" WHERE assistant_id = %s RETURNING {_COLUMNS}",
        [*_ASSISTANT.params(new, names), new.assistant_id],
    )
    row = await cursor.fetchone()
    assert row is not None  # locked in this transaction
    return _assistant(row)


class PostgresAssistantStore:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def create(self, assistant: Assistant) -> Assistant:
        async with transaction(self._pool) as conn:
            created = await _create(conn, assistant)
        if created is None:
            raise AssistantExists(f"assistant {assistant.assistant_id} already exists")
        return created

    async def get(self, assistant_id: str) -> Assistant | None:
        found = await rows(
            self._pool,
            f"SELECT {_COLUMNS} FROM assistants WHERE assistant_id = %s",
            (assistant_id,),
        )
        return _assistant(found[0]) if found else None

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
        async with transaction(self._pool) as conn:
            current = await _locked(conn, assistant_id)
            cursor = await conn.execute(
                "SELECT MAX(version) AS latest FROM assistant_versions WHERE assistant_id = %s",
                (assistant_id,),
            )
            latest = await cursor.fetchone()
            new = updated(
                current,
                version=int((latest or {}).get("latest") or 0) + 1,
                now=next_update_stamp(current.updated_at),
                graph_id=graph_id,
                config=config,
                context=context,
                metadata=metadata,
                name=name,
                description=description,
            )
            stored = await _replace(conn, new)
            await _insert_version(conn, new.as_version())
        return stored

    async def delete(self, assistant_id: str) -> bool:
        # Its versions go with it (ON DELETE CASCADE).
        gone = await rows(
            self._pool,
            "DELETE FROM assistants WHERE assistant_id = %s RETURNING assistant_id",
            (assistant_id,),
        )
        return bool(gone)

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
        where, params, exact = metadata_where(wanted, {"graph_id": graph_id})
        # sort_by and sort_order were checked against closed sets.
        order = _SORT_SQL.get(sort_by, sort_by)
        sql = (
            f"SELECT {_COLUMNS} FROM assistants WHERE {where}"
            f" ORDER BY {order} {sort_order}, seq {sort_order}"
        )
        found = await page(
            self._pool,
            sql,
            params,
            # A name is matched here, by Python's lower(), as by the other stores.
            exact=exact and not name,
            keep=lambda row: contains(row["metadata"], wanted) and name_matches(row["name"], name),
            limit=limit,
            offset=offset,
        )
        return [_assistant(row) for row in found]

    async def count(
        self,
        *,
        graph_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> int:
        wanted = json_filter(metadata)
        where, params, _ = metadata_where(wanted, {"graph_id": graph_id})
        found = await rows(
            self._pool, f"SELECT name, metadata FROM assistants WHERE {where}", params
        )
        return sum(contains(r["metadata"], wanted) and name_matches(r["name"], name) for r in found)

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
        where, params, exact = metadata_where(wanted, {"assistant_id": assistant_id})
        found = await page(
            self._pool,
            f"SELECT {_VERSION_COLUMNS} FROM assistant_versions WHERE {where}"
            " ORDER BY version DESC",
            params,
            exact=exact,
            keep=keeps_metadata(wanted),
            limit=limit,
            offset=offset,
        )
        return [_version(row) for row in found]

    async def set_latest(self, assistant_id: str, version: int) -> Assistant:
        async with transaction(self._pool) as conn:
            current = await _locked(conn, assistant_id)
            cursor = await conn.execute(
                f"SELECT {_VERSION_COLUMNS} FROM assistant_versions"
                " WHERE assistant_id = %s AND version = %s",
                (assistant_id, version),
            )
            row = await cursor.fetchone()
            if row is None:
                raise AssistantNotFound(f"assistant {assistant_id} has no version {version}")
            new = from_version(current, _version(row), now=next_update_stamp(current.updated_at))
            return await _replace(conn, new)

    async def sync_system(self, assistants: Sequence[Assistant]) -> None:
        keep = [a.assistant_id for a in assistants]
        async with transaction(self._pool) as conn:
            # Several instances may start at once: one at a time (instances serving
            # different graphs would otherwise deadlock, each deleting a row the
            # other inserts), each removes what it does not serve and adds what is
            # missing (ON CONFLICT: the first one's row stays).
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext('switchyard-system-assistants:'"
                " || current_schema()))"
            )
            await conn.execute(
                "DELETE FROM assistants WHERE metadata ->> 'created_by' = ANY(%s)"
                " AND NOT (assistant_id = ANY(%s))",
                (list(SERVER_KEPT), keep),
            )
            for assistant in assistants:
                if await _create(conn, assistant) is None:
                    # A flow's new version may describe it anew (search shows it).
                    await conn.execute(
                        "UPDATE assistants SET description = %s"
                        " WHERE assistant_id = %s AND description IS DISTINCT FROM %s",
                        (assistant.description, assistant.assistant_id, assistant.description),
                    )
