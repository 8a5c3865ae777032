"""Records and the storage contracts for threads and runs.

``ThreadStore`` and ``RunStore`` are protocols with one in-memory and one
SQLite implementation (and, later, Postgres). ``tests/app/store`` holds one
contract suite that every implementation must pass unchanged.

Contract, for every implementation:

* ``get`` returns ``None`` for an unknown id; only ``create`` of a thread
  whose id exists raises (``ThreadExists``); ``update`` of an unknown id
  raises ``ThreadNotFound`` / ``RunNotFound``.
* Records come back as fresh objects: mutating one never changes the store.
* ``updated_at`` moves forward on every update; ``created_at`` never changes.
* ``metadata`` passed to ``update`` is merged key by key into the old one.
* Listing is newest first (``created_at`` descending) unless asked otherwise.
* ``filters`` (an auth handler's answer, ``app.store.filters``) scope a thread
  call to threads whose metadata ``matches`` them: any other thread is treated
  exactly as if it did not exist (``get`` → None, ``update`` →
  ``ThreadNotFound``, ``delete`` → False, left out of ``search``/``count``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, get_args

from app.store.filters import Filters

ThreadStatus = Literal["idle", "busy", "interrupted", "error"]
RunStatus = Literal["pending", "running", "success", "error", "timeout", "interrupted"]
MultitaskStrategy = Literal["reject", "enqueue", "interrupt", "rollback"]

# The one status vocabulary: every list of statuses derives from these types.
THREAD_STATUSES: tuple[ThreadStatus, ...] = get_args(ThreadStatus)
RUN_STATUSES: tuple[RunStatus, ...] = get_args(RunStatus)
ACTIVE_RUN_STATUSES: tuple[RunStatus, ...] = ("pending", "running")
TERMINAL_RUN_STATUSES: tuple[RunStatus, ...] = tuple(
    s for s in RUN_STATUSES if s not in ACTIVE_RUN_STATUSES
)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Thread:
    thread_id: str
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    metadata: dict[str, Any] = field(default_factory=dict)
    status: ThreadStatus = "idle"
    # Last known state values and pending interrupts, cached so that search
    # and GET /threads/{id} do not have to open the checkpointer.
    values: dict[str, Any] | None = None
    interrupts: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(slots=True)
class Run:
    run_id: str
    thread_id: str
    assistant_id: str
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    status: RunStatus = "pending"
    metadata: dict[str, Any] = field(default_factory=dict)
    multitask_strategy: MultitaskStrategy = "enqueue"
    # The validated run-create body, so a queued run can start later, even
    # on another instance, from nothing but this record.
    kwargs: dict[str, Any] = field(default_factory=dict)
    # 1, plus one each time the run was taken over after its worker died.
    attempt: int = 1
    # Steps done (app.runs.steps) as the process running it last saw them;
    # filled in by the RunManager, never stored.
    progress: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class ThreadStore(Protocol):
    async def create(self, thread: Thread) -> Thread: ...

    async def get(self, thread_id: str, *, filters: Filters | None = None) -> Thread | None: ...

    async def update(
        self,
        thread_id: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        status: ThreadStatus | None = None,
        values: dict[str, Any] | None = None,
        interrupts: dict[str, Any] | None = None,
        filters: Filters | None = None,
    ) -> Thread: ...

    async def delete(self, thread_id: str, *, filters: Filters | None = None) -> bool: ...

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
        """Threads whose metadata (and values) contain every given key=value."""
        ...

    async def count(
        self,
        *,
        metadata: Mapping[str, Any] | None = None,
        status: ThreadStatus | None = None,
        filters: Filters | None = None,
    ) -> int: ...


class RunStore(Protocol):
    async def create(self, run: Run) -> Run: ...

    async def get(self, run_id: str, *, thread_id: str | None = None) -> Run | None:
        """The run, or ``None`` if unknown or (when given) on another thread."""
        ...

    async def set_status(
        self, run_id: str, status: RunStatus, *, attempt: int | None = None
    ) -> Run:
        """Set the status (and, when given, the attempt number) of a run."""
        ...

    async def for_thread(
        self,
        thread_id: str,
        *,
        limit: int = 10,
        offset: int = 0,
        status: RunStatus | None = None,
    ) -> list[Run]: ...

    async def active(self, thread_id: str) -> list[Run]:
        """Pending and running runs of a thread, oldest first."""
        ...

    async def all_active(self, *, limit: int = 1000) -> list[Run]:
        """Pending and running runs of every thread, oldest first (what crash
        recovery looks at)."""
        ...

    async def delete(self, run_id: str) -> bool: ...

    async def delete_thread(self, thread_id: str) -> int:
        """Delete every run of a thread; returns how many."""
        ...
