"""RunManager: the run engine's API: create, find, cancel, wait, delete.

Scheduling, in one picture::

    create() ──> Run(pending) ──> task: [thread turn] ──> [slot] ──> execute ──> end
                                   FIFO per thread         per-instance limit
                                   (creation order)        (max_concurrency)

The parts, one concept each: ``app.runs.creation`` (validate, give a run its
thread and lifecycle, multitask strategies), ``app.runs.driver`` (one run
from its schedule to its terminal status), ``app.runs.recovery`` (adopt the
runs of an instance that died). Turns, slots, claims and cancel signals
belong to the coordinator (``app.coordinator``): in one process they are
locks and callbacks, across instances Postgres claims and Redis signals; the
engine is the same either way.

* Runs of one thread execute one at a time, in creation order.
* At most ``max_concurrency`` runs execute at once; the rest stay pending.
* Every run ends with exactly one terminal status and its event log with
  ``end``, so no stream can hang.

Finished stateless runs that are not kept stay findable for a while
(``app.runs.recent``), so ``GET``, ``/join`` and ``/stream`` keep answering
after they end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from app import serde
from app.coordinator import CancelAction, Coordinator
from app.errors import EventsExpired, InvalidInput, RunNotFound
from app.events import Event, EventLog
from app.observability.runs import RunObserver
from app.runs.creation import RunCreation
from app.runs.driver import RunDriver
from app.runs.lifecycle import EphemeralLifecycle, MemoryLifecycle, StoredLifecycle
from app.runs.recent import RecentRuns, RunOutcome
from app.runs.recovery import Recovery
from app.runs.resolver import AssistantResolver
from app.runs.retries import RetryPolicies
from app.schemas import RunCreate
from app.settings import RunSettings
from app.store import Storage
from app.store.base import ACTIVE_RUN_STATUSES, Run
from app.store.filters import Filters
from graphs.registry import GraphRegistry

__all__ = ["RunManager", "RunOutcome"]

log = logging.getLogger("switchyard.runs")

CANCEL_ACTIONS: tuple[CancelAction, ...] = ("interrupt", "rollback")


class RunManager:
    def __init__(
        self,
        *,
        settings: RunSettings,
        storage: Storage,
        registry: GraphRegistry,
        events: EventLog,
        assistants: AssistantResolver,
        coordinator: Coordinator,
        model_label: str | None = None,
        observer: RunObserver | None = None,
    ) -> None:
        self._settings = settings
        self._storage = storage
        self._events = events
        self._coordinator = coordinator
        self._recent = RecentRuns(
            max_runs=settings.recent_stateless,
            max_outcomes=settings.recent_outputs,
            max_bytes=settings.recent_max_bytes,
        )
        retries = RetryPolicies(settings.retry, settings.retry_by_assistant)
        self._driver = RunDriver(
            settings=settings,
            events=events,
            coordinator=coordinator,
            stored=StoredLifecycle(registry, storage),
            observer=observer or RunObserver(),
            retries=retries,
        )
        self._handles = self._driver.handles
        # Called once per run, after its end event (``RunDriver.end_hooks``).
        self.end_hooks: list[Callable[[Run, RunCreate, RunOutcome], None]] = self._driver.end_hooks
        self.thread_watch = self._driver.thread_watch  # wakes thread streams on a new run
        self._creation = RunCreation(
            registry=registry,
            storage=storage,
            assistants=assistants,
            coordinator=coordinator,
            driver=self._driver,
            memory=MemoryLifecycle(registry, self._recent),
            ephemeral=EphemeralLifecycle(registry),
            retries=retries,
            model_label=model_label,
        )
        self._recovery = Recovery(
            settings=settings,
            storage=storage,
            events=events,
            coordinator=coordinator,
            assistants=assistants,
            driver=self._driver,
        )

    async def create(
        self,
        body: RunCreate,
        *,
        thread_id: str | None,
        ephemeral: bool = False,
        filters: Filters | None = None,
        thread_metadata: Mapping[str, Any] | None = None,
        protocol: bool = False,
    ) -> Run:
        """Validate, persist and schedule a run; returns it while pending
        (``RunCreation.create``)."""
        return await self._creation.create(
            body,
            thread_id=thread_id,
            ephemeral=ephemeral,
            filters=filters,
            thread_metadata=thread_metadata,
            protocol=protocol,
        )

    async def recover(self) -> list[str]:
        """Adopt the active runs nobody executes; returns their ids (``Recovery``)."""
        return await self._recovery.recover()

    async def recover_forever(self, every_s: float) -> None:
        await self._recovery.recover_forever(every_s)

    def _memory_run(self, thread_id: str | None, run_id: str) -> Run | None:
        """A run (on that thread, when given) that has no record: a running
        memory run, or a recently finished stateless run that is not kept."""
        handle = self._handles.get(run_id)
        if handle is not None and handle.kind == "memory":
            on_thread = thread_id is None or handle.run.thread_id == thread_id
            return handle.snapshot() if on_thread else None
        return self._recent.get(run_id, thread_id=thread_id)

    async def find(self, thread_id: str, run_id: str) -> Run | None:
        """The run on that thread: its record, or for a stateless run, which has
        none, what it is now or was when it ended (so it can still be read,
        joined and its stream resumed from the event log). Ephemeral runs are
        not found."""
        run = self._memory_run(thread_id, run_id)
        if run is not None:
            return run
        return self._with_progress(await self._storage.runs.get(run_id, thread_id=thread_id))

    async def find_any(self, run_id: str) -> Run | None:
        """``find`` for callers that know only the run id (the WebSocket)."""
        run = self._memory_run(None, run_id)
        return run or self._with_progress(await self._storage.runs.get(run_id))

    def _with_progress(self, run: Run | None) -> Run | None:
        """A stored run's record, with its progress if it executes here now."""
        handle = self._handles.get(run.run_id) if run is not None else None
        if run is not None and handle is not None:
            run.progress = handle.progress()
        return run

    async def cancel(
        self, thread_id: str, run_id: str, *, action: str = "interrupt", wait: bool = False
    ) -> None:
        action = _cancel_action(action)
        handle = self._handles.get(run_id)
        if handle is None or handle.run.thread_id != thread_id:
            run = await self.find(thread_id, run_id)
            if run is None:
                raise RunNotFound(f"run {run_id} not found on thread {thread_id}")
            if run.status in ACTIVE_RUN_STATUSES:
                # Executing elsewhere: the coordinator carries the signal there.
                await self._coordinator.cancel(run_id, action)
            return
        await self._driver.cancel_handle(handle, action=action, wait=wait)

    async def wait(self, run_id: str) -> RunOutcome | None:
        """The outcome once the run ends; None if this process no longer tracks it
        (a finished stateless run is tracked while it is remembered). A stored
        run executing on another instance is waited for through its event log,
        which ends when the run does; its outcome is then only known when it
        failed (else None: the caller reads the thread)."""
        handle = self._handles.get(run_id)
        if handle is None:
            remembered = self._recent.outcome(run_id)
            if remembered is not None:
                return remembered
            return await self._wait_elsewhere(run_id)
        await handle.ended()
        return handle.outcome

    async def _wait_elsewhere(self, run_id: str) -> RunOutcome | None:
        run = await self._storage.runs.get(run_id)
        if run is None or run.status not in ("pending", "running"):
            return None
        error: Any = None
        try:
            async for event in self._events.read(run_id, from_oldest=True):
                if event.event == "error":
                    error = serde.loads(event.data)
        except (RunNotFound, EventsExpired):
            return None  # no log to follow: the record is all there is
        ended = await self._storage.runs.get(run_id)
        if error is None or ended is None:
            return None
        return RunOutcome(status=ended.status, error=error)

    def is_active(self, run_id: str) -> bool:
        return run_id in self._handles

    def has_record(self, run_id: str) -> bool | None:
        """False for a stateless run that has no record (in memory, or recently
        finished and forgotten by storage); None if this process does not know."""
        if self._memory_run(None, run_id) is not None:
            return False
        return True if run_id in self._handles else None

    def active_run_ids(self, thread_id: str | None = None) -> list[str]:
        """The runs this process drives that have not ended (on that thread), oldest first."""
        return [
            run_id
            for run_id, handle in self._handles.items()
            if thread_id is None or handle.run.thread_id == thread_id
        ]

    def tracks(self, run_id: str) -> bool:
        """Whether ``wait`` can answer for this run (else it returns None)."""
        return run_id in self._handles or self._recent.outcome(run_id) is not None

    def read_events(self, run_id: str, *, after: str | None = None) -> AsyncIterator[Event]:
        return self._events.read(run_id, after=after)

    @property
    def events(self) -> EventLog:
        """The event log runs write to; transports read it through ``resume``."""
        return self._events

    async def delete_run(self, thread_id: str, run_id: str) -> None:
        if self._memory_run(thread_id, run_id) is not None:
            if run_id in self._handles:
                await self.cancel(thread_id, run_id, wait=True)
            self._recent.forget(run_id)
            await self._events.delete(run_id)
            return
        run = await self._storage.runs.get(run_id, thread_id=thread_id)
        if run is None:
            raise RunNotFound(f"run {run_id} not found on thread {thread_id}")
        if run_id in self._handles:
            await self.cancel(thread_id, run_id, wait=True)
        await self._storage.runs.delete(run_id)
        await self._events.delete(run_id)

    async def delete_thread(self, thread_id: str) -> None:
        """Cancel the thread's runs, then delete it with its runs, checkpoints
        and their event logs: the one cascade every caller uses."""
        for handle in [h for h in self._handles.values() if h.run.thread_id == thread_id]:
            await self._driver.cancel_handle(handle, action="interrupt", wait=True)
        runs = await self._storage.runs.for_thread(thread_id, limit=1_000_000)
        await self._storage.delete_thread(thread_id)
        for run in runs:
            await self._events.delete(run.run_id)

    async def shutdown(self) -> None:
        handles = list(self._handles.values())
        for handle in handles:
            if handle.task is not None:
                handle.task.cancel()
        for handle in handles:
            if handle.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await handle.task


def _cancel_action(action: str) -> CancelAction:
    for known in CANCEL_ACTIONS:
        if action == known:
            return known
    raise InvalidInput(f"cancel action must be 'interrupt' or 'rollback', not {action!r}")
