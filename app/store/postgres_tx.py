"""What the Postgres stores beside threads and runs share: one statement, one transaction,
and a search paged in SQL when the filter is exact there, in Python when it is not.

Postgres refuses some JSON that JSON allows (a string holding ``\\u0000``):
that is the caller's data, so both helpers turn it into a 422, not a 500.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import DictRow

from app.errors import InvalidInput
from app.serde import dumps
from app.store._common import as_utc, contains
from app.store.postgres import Pool, _json_predicates, _rows

__all__ = [
    "Columns",
    "keeps_metadata",
    "metadata_where",
    "page",
    "rows",
    "transaction",
]

rows = _rows


@dataclass(frozen=True)
class Columns:
    """A record dataclass mapped one field to one column: the SQL and parameters
    that write it, and the record a dict row reads back as."""

    record: type[Any]
    json: frozenset[str]

    @property
    def names(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self.record)]

    @property
    def select(self) -> str:
        return ", ".join(self.names)

    def placeholders(self, names: Sequence[str]) -> str:
        return ", ".join("%s::jsonb" if name in self.json else "%s" for name in names)

    def assignments(self, names: Sequence[str]) -> str:
        return ", ".join(f"{name} = {self.placeholders([name])}" for name in names)

    def params(self, record: Any, names: Sequence[str]) -> list[Any]:
        return [self._param(name, getattr(record, name)) for name in names]

    def _param(self, name: str, value: Any) -> Any:
        if isinstance(value, datetime):
            return as_utc(value)  # a naive time is UTC, not the session's zone
        return dumps(value).decode() if name in self.json else value

    def read(self, row: DictRow) -> Any:
        """The record ``row`` holds, times as aware UTC datetimes."""
        values = {name: row[name] for name in self.names}
        for name, value in values.items():
            if isinstance(value, datetime):
                values[name] = as_utc(value)
        return self.record(**values)


@asynccontextmanager
async def transaction(pool: Pool) -> AsyncIterator[AsyncConnection[DictRow]]:
    """A pooled connection inside one transaction, committed on a clean exit."""
    try:
        async with pool.connection() as conn, conn.transaction():
            yield conn
    except psycopg.errors.DataError as exc:
        raise InvalidInput(f"Postgres cannot store this value: {exc.diag.message_primary}") from exc


def metadata_where(
    wanted: Mapping[str, Any], equal: Mapping[str, Any]
) -> tuple[str, list[Any], bool]:
    """A WHERE clause for rows whose ``metadata`` contains ``wanted`` and whose columns
    equal ``equal`` (None values skipped); True when SQL alone decides it exactly."""
    clauses, params, exact = _json_predicates("metadata", wanted)
    for column, value in equal.items():
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(value)
    return " AND ".join(clauses) or "TRUE", params, exact


async def page(
    pool: Pool,
    sql: str,
    params: Sequence[Any],
    *,
    exact: bool,
    keep: Callable[[DictRow], bool],
    limit: int,
    offset: int,
) -> list[DictRow]:
    """``sql``'s rows from ``offset``, at most ``limit``: paged by Postgres when its
    WHERE is ``exact``, else narrowed by ``keep`` and paged here."""
    if exact:
        return await _rows(pool, f"{sql} LIMIT %s OFFSET %s", [*params, limit, offset])
    kept = [row for row in await _rows(pool, sql, params) if keep(row)]
    return kept[offset : offset + limit]


def keeps_metadata(wanted: Mapping[str, Any]) -> Callable[[DictRow], bool]:
    return lambda row: contains(row["metadata"], wanted)
