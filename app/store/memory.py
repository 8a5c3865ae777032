"""Thread and run stores in process memory: the reference implementation.

Everything here lives in dicts and is gone when the process ends. The semantics
both backends share (stamps, filters, paging) live in ``app.store._common``.

Records are normalised on the way in: timestamps become aware UTC datetimes and
the JSON fields (``metadata``, ``values``, ``interrupts``, ``kwargs``) become
plain JSON data (through ``app.serde``), exactly what a database backend hands
back. Every record returned is a deep copy, so callers can never reach into
the store.
"""

from __future__ import annotations

import dataclasses
import heapq
import operator
from collections.abc import Mapping, Sequence
from typing import Any

from app.errors import Conflict, RunNotFound, ThreadExists, ThreadNotFound
from app.store._common import (
    SortOrder,
    ThreadSortKey,
    as_utc,
    check_page,
    check_search,
    contains,
    copy_json,
    json_filter,
    next_update_stamp,
)
from app.store.base import (
    ACTIVE_RUN_STATUSES,
    Run,
    RunStatus,
    Thread,
    ThreadStatus,
)
from app.store.filters import Filters, matches

__all__ = ["MemoryRunStore", "MemoryThreadStore"]


def _copy_thread(thread: Thread) -> Thread:
    return dataclasses.replace(
        thread,
        metadata=copy_json(thread.metadata),
        values=None if thread.values is None else copy_json(thread.values),
        interrupts=copy_json(thread.interrupts),
    )


def _normalised_thread(thread: Thread) -> Thread:
    copied = _copy_thread(thread)
    copied.created_at = as_utc(thread.created_at)
    copied.updated_at = as_utc(thread.updated_at)
    return copied


def _copy_run(run: Run) -> Run:
    return dataclasses.replace(run, metadata=copy_json(run.metadata), kwargs=copy_json(run.kwargs))


def _normalised_run(run: Run) -> Run:
    copied = _copy_run(run)
    copied.created_at = as_utc(run.created_at)
    copied.updated_at = as_utc(run.updated_at)
    return copied


class MemoryThreadStore:
    """``ThreadStore`` over a dict; search scans every thread."""

    def __init__(self) -> None:
        # Insertion order doubles as the tie-breaker for equal sort keys, the
        # way the SQLite backend falls back to its rowid.
        self._threads: dict[str, Thread] = {}

    async def create(self, thread: Thread) -> Thread:
        if thread.thread_id in self._threads:
            raise ThreadExists(f"thread {thread.thread_id} already exists")
        stored = _normalised_thread(thread)
        self._threads[thread.thread_id] = stored
        return _copy_thread(stored)

    def _visible(self, thread_id: str, filters: Filters | None) -> Thread | None:
        stored = self._threads.get(thread_id)
        if stored is None or not matches(stored.metadata, filters):
            return None
        return stored

    async def get(self, thread_id: str, *, filters: Filters | None = None) -> Thread | None:
        stored = self._visible(thread_id, filters)
        return None if stored is None else _copy_thread(stored)

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
        stored = self._visible(thread_id, filters)
        if stored is None:
            raise ThreadNotFound(f"thread {thread_id} not found")
        # Build the new record completely before swapping it in, so a value
        # that cannot be encoded leaves the stored one untouched.
        updated = dataclasses.replace(stored, updated_at=next_update_stamp(stored.updated_at))
        if metadata is not None:
            updated.metadata = {**stored.metadata, **copy_json(dict(metadata))}
        if status is not None:
            updated.status = status
        if values is not None:
            updated.values = copy_json(values)
        if interrupts is not None:
            updated.interrupts = copy_json(interrupts)
        self._threads[thread_id] = updated
        return _copy_thread(updated)

    async def delete(self, thread_id: str, *, filters: Filters | None = None) -> bool:
        if self._visible(thread_id, filters) is None:
            return False
        return self._threads.pop(thread_id, None) is not None

    async def search(
        self,
        *,
        metadata: Mapping[str, Any] | None = None,
        values: Mapping[str, Any] | None = None,
        status: ThreadStatus | None = None,
        ids: Sequence[str] | None = None,
        limit: int = 10,
        offset: int = 0,
        sort_by: ThreadSortKey = "created_at",
        sort_order: SortOrder = "desc",
        filters: Filters | None = None,
    ) -> list[Thread]:
        check_search(sort_by, sort_order, limit, offset)
        wanted_ids = None if ids is None else set(ids)
        wanted_metadata, wanted_values = json_filter(metadata), json_filter(values)
        found = [
            thread
            for thread in self._threads.values()
            if (status is None or thread.status == status)
            and (wanted_ids is None or thread.thread_id in wanted_ids)
            and contains(thread.metadata, wanted_metadata)
            and contains(thread.values, wanted_values)
            and matches(thread.metadata, filters)
        ]
        # heapq's n-smallest/largest equal sorted(...)[:n], ties included, while
        # keeping only one page in memory. Reversing first makes later inserts
        # win ties when descending, as the SQLite rowid does.
        key = operator.attrgetter(sort_by)
        if sort_order == "desc":
            found.reverse()
            page = heapq.nlargest(offset + limit, found, key=key)
        else:
            page = heapq.nsmallest(offset + limit, found, key=key)
        return [_copy_thread(thread) for thread in page[offset:]]

    async def count(
        self,
        *,
        metadata: Mapping[str, Any] | None = None,
        status: ThreadStatus | None = None,
        filters: Filters | None = None,
    ) -> int:
        wanted = json_filter(metadata)
        return sum(
            1
            for thread in self._threads.values()
            if (status is None or thread.status == status)
            and contains(thread.metadata, wanted)
            and matches(thread.metadata, filters)
        )


class MemoryRunStore:
    """``RunStore`` over a dict, with a per-thread index so no call scans every run."""

    def __init__(self) -> None:
        self._runs: dict[str, Run] = {}
        # thread_id -> run ids in insertion order (a dict used as an ordered set).
        self._by_thread: dict[str, dict[str, None]] = {}

    async def create(self, run: Run) -> Run:
        if run.run_id in self._runs:
            raise Conflict(f"run {run.run_id} already exists")
        stored = _normalised_run(run)
        self._runs[run.run_id] = stored
        self._by_thread.setdefault(run.thread_id, {})[run.run_id] = None
        return _copy_run(stored)

    async def get(self, run_id: str, *, thread_id: str | None = None) -> Run | None:
        stored = self._runs.get(run_id)
        if stored is None or (thread_id is not None and stored.thread_id != thread_id):
            return None
        return _copy_run(stored)

    async def set_status(
        self, run_id: str, status: RunStatus, *, attempt: int | None = None
    ) -> Run:
        stored = self._runs.get(run_id)
        if stored is None:
            raise RunNotFound(f"run {run_id} not found")
        stored.status = status
        if attempt is not None:
            stored.attempt = attempt
        stored.updated_at = next_update_stamp(stored.updated_at)
        return _copy_run(stored)

    def _thread_runs(self, thread_id: str) -> list[Run]:
        """The thread's runs, oldest first; insertion order breaks created_at ties."""
        runs = [self._runs[run_id] for run_id in self._by_thread.get(thread_id, ())]
        runs.sort(key=lambda run: run.created_at)
        return runs

    async def for_thread(
        self,
        thread_id: str,
        *,
        limit: int = 10,
        offset: int = 0,
        status: RunStatus | None = None,
    ) -> list[Run]:
        check_page(limit, offset)
        newest_first = self._thread_runs(thread_id)[::-1]
        matches = [run for run in newest_first if status is None or run.status == status]
        return [_copy_run(run) for run in matches[offset : offset + limit]]

    async def active(self, thread_id: str) -> list[Run]:
        return [
            _copy_run(run)
            for run in self._thread_runs(thread_id)
            if run.status in ACTIVE_RUN_STATUSES
        ]

    async def all_active(self, *, limit: int = 1000) -> list[Run]:
        check_page(limit, 0)
        found = [run for run in self._runs.values() if run.status in ACTIVE_RUN_STATUSES]
        found.sort(key=lambda run: run.created_at)  # stable: insertion order breaks ties
        return [_copy_run(run) for run in found[:limit]]

    async def delete(self, run_id: str) -> bool:
        run = self._runs.pop(run_id, None)
        if run is None:
            return False
        siblings = self._by_thread[run.thread_id]
        del siblings[run_id]
        if not siblings:
            del self._by_thread[run.thread_id]
        return True

    async def delete_thread(self, thread_id: str) -> int:
        run_ids = self._by_thread.pop(thread_id, {})
        for run_id in run_ids:
            del self._runs[run_id]
        return len(run_ids)
