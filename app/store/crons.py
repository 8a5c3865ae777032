"""Crons: the record, the ``CronStore`` contract, and the memory store.

A cron is a run body (``payload``) plus a schedule. ``next_run_date`` is the
tick it fires at next; firing a tick is *claiming* it::

    claim(cron_id, expected=<the tick seen>, following=<the tick after>) -> bool

a conditional update (``... WHERE next_run_date = expected``): of any number
of schedulers that saw the same due tick, in one process or many, exactly
one wins it and creates the run. ``tests/app/store/test_crons_contract.py``
runs the contract over every backend.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from app.store._common import as_utc, check_page, contains, copy_json, json_filter
from app.store.base import utcnow

__all__ = ["CRON_SORT_KEYS", "Cron", "CronStore", "MemoryCronStore"]

CRON_SORT_KEYS = frozenset(
    {
        "cron_id",
        "assistant_id",
        "thread_id",
        "next_run_date",
        "end_time",
        "created_at",
        "updated_at",
    }
)
_UPDATABLE = frozenset(
    {"schedule", "timezone", "end_time", "payload", "metadata", "enabled", "on_run_completed",
     "next_run_date"}
)  # fmt: skip


@dataclass(slots=True)
class Cron:
    cron_id: str
    assistant_id: str
    schedule: str
    payload: dict[str, Any]
    thread_id: str | None = None
    timezone: str | None = None
    end_time: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    on_run_completed: Literal["delete", "keep"] | None = None
    user_id: str | None = None
    next_run_date: datetime | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class CronStore(Protocol):
    async def create(self, cron: Cron) -> Cron: ...

    async def get(self, cron_id: str) -> Cron | None: ...

    async def update(self, cron_id: str, **changes: Any) -> Cron | None:
        """Replace the given fields (``metadata`` is merged); None if unknown."""
        ...

    async def delete(self, cron_id: str) -> bool: ...

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
    ) -> list[Cron]: ...

    async def count(
        self,
        *,
        assistant_id: str | None = None,
        thread_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> int: ...

    async def due(self, now: datetime, limit: int = 100) -> list[Cron]:
        """Enabled crons whose ``next_run_date`` is at or before ``now``, soonest first."""
        ...

    async def claim(self, cron_id: str, expected: datetime, following: datetime | None) -> bool:
        """Move ``next_run_date`` from ``expected`` to ``following``; True for the one winner."""
        ...


def normalised(cron: Cron) -> Cron:
    return dataclasses.replace(
        cron,
        payload=copy_json(cron.payload),
        metadata=copy_json(cron.metadata),
        end_time=None if cron.end_time is None else as_utc(cron.end_time),
        next_run_date=None if cron.next_run_date is None else as_utc(cron.next_run_date),
        created_at=as_utc(cron.created_at),
        updated_at=as_utc(cron.updated_at),
    )


def changed(cron: Cron, changes: Mapping[str, Any], now: datetime) -> Cron:
    unknown = set(changes) - _UPDATABLE
    if unknown:
        raise ValueError(f"cannot update cron fields {sorted(unknown)}")
    values = dict(changes)
    if "metadata" in values:
        values["metadata"] = {**cron.metadata, **(values["metadata"] or {})}
    return normalised(dataclasses.replace(cron, **values, updated_at=max(now, cron.updated_at)))


def matches(
    cron: Cron,
    assistant_id: str | None,
    thread_id: str | None,
    enabled: bool | None,
    wanted: Mapping[str, Any],
) -> bool:
    return (
        (assistant_id is None or cron.assistant_id == assistant_id)
        and (thread_id is None or cron.thread_id == thread_id)
        and (enabled is None or cron.enabled == enabled)
        and contains(cron.metadata, wanted)
    )


def check_sort(sort_by: str, sort_order: str, limit: int, offset: int) -> None:
    if sort_by not in CRON_SORT_KEYS or sort_order not in ("asc", "desc"):
        raise ValueError(f"cannot sort crons by {sort_by!r} {sort_order!r}")
    check_page(limit, offset)


class MemoryCronStore:
    def __init__(self) -> None:
        self._crons: dict[str, Cron] = {}

    async def create(self, cron: Cron) -> Cron:
        if cron.cron_id in self._crons:
            raise ValueError(f"cron {cron.cron_id} already exists")
        self._crons[cron.cron_id] = normalised(cron)
        return normalised(cron)

    async def get(self, cron_id: str) -> Cron | None:
        found = self._crons.get(cron_id)
        return None if found is None else normalised(found)

    async def update(self, cron_id: str, **changes: Any) -> Cron | None:
        found = self._crons.get(cron_id)
        if found is None:
            return None
        self._crons[cron_id] = changed(found, changes, utcnow())
        return normalised(self._crons[cron_id])

    async def delete(self, cron_id: str) -> bool:
        return self._crons.pop(cron_id, None) is not None

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
        found = [
            c for c in self._crons.values() if matches(c, assistant_id, thread_id, enabled, wanted)
        ]
        if sort_order == "desc":
            found.reverse()  # later inserts first among equals, as SQLite's rowid
        # None sorts first ascending (as in SQLite), so it is keyed below everything.
        found.sort(
            key=lambda c: (getattr(c, sort_by) is not None, getattr(c, sort_by) or 0),
            reverse=sort_order == "desc",
        )
        return [normalised(c) for c in found[offset : offset + limit]]

    async def count(
        self,
        *,
        assistant_id: str | None = None,
        thread_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> int:
        wanted = json_filter(metadata)
        return sum(matches(c, assistant_id, thread_id, None, wanted) for c in self._crons.values())

    async def due(self, now: datetime, limit: int = 100) -> list[Cron]:
        found = [
            c
            for c in self._crons.values()
            if c.enabled and c.next_run_date is not None and c.next_run_date <= now
        ]
        found.sort(key=lambda c: c.next_run_date or now)
        return [normalised(c) for c in found[:limit]]

    async def claim(self, cron_id: str, expected: datetime, following: datetime | None) -> bool:
        found = self._crons.get(cron_id)
        if found is None or found.next_run_date != expected:
            return False
        found.next_run_date = following
        return True
