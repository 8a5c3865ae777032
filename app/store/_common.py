"""Semantics every store backend shares: stamps, JSON normalisation, filters, paging.

Each backend calls these rather than re-deriving them, so that the memory and
SQLite stores filter, stamp and reject bad pages identically (the contract
suite in ``tests/app/store`` checks it).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from app.errors import InvalidInput
from app.serde import dumps, loads
from app.store.base import utcnow

__all__ = [
    "THREAD_SORT_KEYS",
    "SortOrder",
    "ThreadSortKey",
    "as_utc",
    "check_page",
    "check_search",
    "contains",
    "copy_json",
    "json_filter",
    "next_update_stamp",
]

ThreadSortKey = Literal["created_at", "updated_at", "thread_id", "status"]
SortOrder = Literal["asc", "desc"]
THREAD_SORT_KEYS: frozenset[str] = frozenset({"created_at", "updated_at", "thread_id", "status"})

_ONE_MICROSECOND = timedelta(microseconds=1)
_JsonT = TypeVar("_JsonT")


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime; a naive one is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def copy_json(data: _JsonT) -> _JsonT:
    """A deep copy of ``data`` as plain JSON data (what a database would return)."""
    return loads(dumps(data))  # type: ignore[no-any-return]


def next_update_stamp(previous: datetime) -> datetime:
    """Now, but strictly after ``previous``: ``updated_at`` must move forward even
    when two updates land within one tick of the clock."""
    now = utcnow()
    return now if now > previous else previous + _ONE_MICROSECOND


def contains(data: Mapping[str, Any] | None, wanted: Mapping[str, Any] | None) -> bool:
    """True if ``data`` has every key of ``wanted`` with an equal value.

    An empty or missing ``wanted`` matches anything; missing ``data`` matches
    only an empty ``wanted``.
    """
    if not wanted:
        return True
    if data is None:
        return False
    return all(key in data and data[key] == value for key, value in wanted.items())


def json_filter(wanted: Mapping[str, Any] | None) -> dict[str, Any]:
    """A search filter as plain JSON data, so that it compares like the stored data
    (a tuple in a filter matches the list a record holds)."""
    return copy_json(dict(wanted)) if wanted else {}


def check_search(sort_by: str, sort_order: str, limit: int, offset: int) -> None:
    """Reject sort keys and pages that no backend can honour (they may come from HTTP)."""
    if sort_by not in THREAD_SORT_KEYS:
        raise InvalidInput(f"cannot sort threads by {sort_by!r}")
    if sort_order not in ("asc", "desc"):
        raise InvalidInput(f"sort_order must be 'asc' or 'desc', not {sort_order!r}")
    check_page(limit, offset)


def check_page(limit: int, offset: int) -> None:
    if limit < 0 or offset < 0:
        raise InvalidInput("limit and offset must not be negative")
