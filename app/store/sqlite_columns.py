"""A record dataclass stored one field per SQLite column, in the formats of
``app.store.sqlite``: JSON as TEXT, times as INTEGER microseconds, booleans as 0/1.

The column names are the dataclass's field names, so the SQL that writes a
record and the mapping that reads it back come from one place. (The Postgres
stores' counterpart is ``app.store.postgres_tx.Columns``.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from app.serde import loads
from app.store.sqlite import _micros, _moment, _text

__all__ = ["SqliteColumns"]


@dataclass(frozen=True)
class SqliteColumns:
    record: type[Any]
    json: frozenset[str]
    times: frozenset[str]
    bools: frozenset[str] = frozenset()

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(self.record))

    @cached_property
    def select(self) -> str:
        """The column list, in field order: what ``read`` expects a row to hold."""
        return ", ".join(self.names)

    def insert(self, table: str) -> str:
        return f"INSERT INTO {table} ({self.select}) VALUES ({', '.join('?' * len(self.names))})"

    def assignments(self, names: Sequence[str]) -> str:
        return ", ".join(f"{name} = ?" for name in names)

    def params(self, record: Any, names: Sequence[str] | None = None) -> tuple[Any, ...]:
        return tuple(self._encode(name, getattr(record, name)) for name in names or self.names)

    def read(self, row: Sequence[Any]) -> Any:
        """The record a row of ``SELECT {select}`` holds."""
        return self.record(**{n: self._decode(n, v) for n, v in zip(self.names, row, strict=True)})

    def _encode(self, name: str, value: Any) -> Any:
        if value is None:
            return None
        if name in self.json:
            return _text(value)
        if isinstance(value, datetime):
            return _micros(value)
        return int(value) if name in self.bools else value

    def _decode(self, name: str, value: Any) -> Any:
        if value is None:
            return None
        if name in self.json:
            return loads(value)
        if name in self.times:
            return _moment(value)
        return bool(value) if name in self.bools else value
