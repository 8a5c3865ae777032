"""RunManager: creates runs, schedules them, and keeps statuses true.

Scheduling, in one picture::

    create() ──> Run(pending) ──> task: [thread turn] ──> [slot] ──> execute ──> end
                                   FIFO per thread         per-instance limit
                                   (creation order)        (max_concurrency)

Turns, slots, claims and cancel signals belong to the coordinator
(``app.coordinator``): in one process they are locks and callbacks, across
instances Postgres claims and Redis signals; this module is the same either way.

* Runs of one thread execute one at a time, in creation order.
  ``multitask_strategy`` decides what a new run does to the thread's active
  runs: ``reject`` → 409, ``enqueue`` → wait its turn, ``interrupt`` → cancel
  them first, ``rollback`` → cancel, delete them and restart from the
  checkpoint the first of them started from.
* At most ``max_concurrency`` runs execute at once; the rest stay pending.
* Every run ends with exactly one terminal status (success, error, timeout,
  interrupted) and its event log ends with ``end`` (after an ``error`` event
  when it failed), so no stream can hang.

What a run keeps (stored, memory, ephemeral) is decided once, from the request
alone, by ``app.runs.lifecycle``: the same body gets the same lifecycle over
every transport. Finished stateless runs that are not kept stay findable for a
while (``app.runs.recent``), so ``GET``, ``/join`` and ``/stream`` keep
answering after they end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from app import serde
from app.coordinator import CancelAction, Coordinator
from app.errors import (
    InvalidInput,
    RunCancelled,
    RunConflict,
    RunNotFound,
    RunTimeout,
    ThreadNotFound,
    error_body,
)
from app.events import Event, EventLog
from app.observability.runs import RunObserver
from app.runs.execution import GraphRun, build_config
from app.runs.handle import RunHandle
from app.runs.inputs import InputKeys
from app.runs.lifecycle import EphemeralLifecycle, Lifecycle, MemoryLifecycle, StoredLifecycle
from app.runs.recent import RecentRuns, RunOutcome
from app.runs.resolver import AssistantResolver
from app.runs.retries import RetryPolicies
from app.runs.steps import StepCounter
from app.schemas import RunCreate
from app.settings import RunSettings
from app.store import Storage
from app.store.base import ACTIVE_RUN_STATUSES, Run, RunStatus, Thread
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
        self._observer = observer or RunObserver()
        self._retries = RetryPolicies(settings.retry, settings.retry_by_assistant)
        self._model_label = model_label
        self._storage = storage
        self._registry = registry
        self._events = events
        self._assistants = assistants
        self._coordinator = coordinator
        self._handles: dict[str, RunHandle] = {}
        self._input_keys = InputKeys(registry)
        self._recent = RecentRuns(
            max_runs=settings.recent_stateless, max_outcomes=settings.recent_outputs
        )
        self._stored = StoredLifecycle(registry, storage)
        self._memory = MemoryLifecycle(registry, self._recent)
        self._ephemeral = EphemeralLifecycle(registry)
        # Half the log: a trimmed delta stream always finds a keyframe to resume on.
        self._keyframe_every = max(1, events.max_events // 2)

    # -- creation -----------------------------------------------------------

    async def create(
        self, body: RunCreate, *, thread_id: str | None, ephemeral: bool = False
    ) -> Run:
        """Validate, persist and schedule a run; returns it while pending.

        A stateless run (``thread_id=None``) that is not kept is a ``memory``
        run, or with ``ephemeral`` (for callers that take the result inline via
        ``wait``, such as batch items) an ``ephemeral`` one; see
        ``app.runs.lifecycle``.
        """
        graph_id, assistant_id = self._assistants.resolve(body.assistant_id)
        self._retries.check(body)  # a bad per-run retry policy is the request's fault
        await self._input_keys.check(graph_id, body.input)
        stateless = thread_id is None and body.on_completion != "keep"
        if ephemeral and not stateless:
            raise ValueError("only stateless runs that are not kept can be ephemeral")
        if stateless:
            lifecycle: Lifecycle = self._ephemeral if ephemeral else self._memory
            run = Run(
                run_id=str(uuid.uuid4()),
                thread_id=str(uuid.uuid4()),  # only a name: no thread is stored
                assistant_id=assistant_id,
                metadata=self._run_metadata(graph_id, body),
                multitask_strategy=body.multitask_strategy,
            )
            if lifecycle.logged:  # what GET answers, and how a resumer reads its stream
                run.kwargs = body.model_dump(mode="json", exclude_none=True)
            handle = RunHandle(run=run, body=body, graph_id=graph_id, kind=lifecycle.kind)
            return await self._schedule(handle, lifecycle)
        thread_id, active = await self._thread_for(thread_id, body, graph_id, assistant_id)
        restart_from = await self._apply_multitask(thread_id, body, active)
        run = Run(
            run_id=str(uuid.uuid4()),
            thread_id=thread_id,
            assistant_id=assistant_id,
            metadata=self._run_metadata(graph_id, body),
            multitask_strategy=body.multitask_strategy,
            kwargs=body.model_dump(mode="json", exclude_none=True),
        )
        await self._storage.runs.create(run)
        handle = RunHandle(run=run, body=body, graph_id=graph_id)
        handle.start_checkpoint_id = restart_from
        return await self._schedule(handle, self._stored)

    async def _thread_for(
        self, thread_id: str | None, body: RunCreate, graph_id: str, assistant_id: str
    ) -> tuple[str, list[Run]]:
        """The stored run's thread (created when needed) and its active runs."""
        threads = self._storage.threads
        # The thread remembers its graph: state and history are read with it.
        owner = {"graph_id": graph_id, "assistant_id": assistant_id}
        if thread_id is None:  # a stateless run that is kept: a thread of its own
            thread = await threads.create(Thread(thread_id=str(uuid.uuid4()), metadata=owner))
            return thread.thread_id, []
        # Read together: on SQLite, one trip (see ``SqliteTrips``).
        existing, active = await asyncio.gather(
            threads.get(thread_id), self._storage.runs.active(thread_id)
        )
        if existing is None:
            if body.if_not_exists != "create":
                raise ThreadNotFound(
                    f"thread {thread_id} does not exist; create it first or pass "
                    "if_not_exists='create'"
                )
            await threads.create(Thread(thread_id=thread_id, metadata=owner))
        elif existing.metadata.get("graph_id") != graph_id:
            await threads.update(thread_id, metadata=owner)
        return thread_id, active

    def _run_metadata(self, graph_id: str, body: RunCreate) -> dict[str, Any]:
        metadata = dict(body.metadata or {})
        if self._model_label and "model" in self._registry.injected.get(graph_id, ()):
            metadata["model"] = self._model_label  # which LLM answered, offline or not
        return metadata

    async def _schedule(self, handle: RunHandle, lifecycle: Lifecycle) -> Run:
        run = handle.run
        if lifecycle.logged:
            await self._events.open(run.run_id)
        self._handles[run.run_id] = handle
        # Watched from now on: a cancel may arrive before the task first runs.
        unsubscribe = self._coordinator.on_cancel(run.run_id, handle.cancel)
        handle.task = asyncio.create_task(
            self._drive(handle, lifecycle, unsubscribe), name=f"run-{run.run_id}"
        )
        return run

    async def _apply_multitask(
        self, thread_id: str, body: RunCreate, active: list[Run]
    ) -> str | None:
        if not active or body.multitask_strategy == "enqueue":
            return None
        if body.multitask_strategy == "reject":
            busy = active[0]
            raise RunConflict(
                f"thread {thread_id} already has run {busy.run_id} ({busy.status}); "
                "use multitask_strategy 'enqueue', 'interrupt' or 'rollback' to run anyway"
            )
        handles = [self._handles[r.run_id] for r in active if r.run_id in self._handles]
        restart_from = next((h.start_checkpoint_id for h in handles if h.task), None)
        action: CancelAction = "rollback" if body.multitask_strategy == "rollback" else "interrupt"
        for handle in handles:
            await self._cancel_handle(handle, action=action, wait=True)
        return restart_from if action == "rollback" else None

    # -- execution ----------------------------------------------------------

    async def _emit(self, handle: RunHandle, lifecycle: Lifecycle, event: str, data: Any) -> None:
        if lifecycle.logged:  # else nobody can read the log: do not serialise for it
            await self._events.append(handle.run.run_id, event, serde.dumps(data))

    async def _drive(
        self, handle: RunHandle, lifecycle: Lifecycle, unsubscribe: Callable[[], None]
    ) -> None:
        # Metrics, log ids and the run's span, from here to the terminal status.
        with self._observer.run(handle) as observed:
            await self._drive_run(handle, lifecycle, unsubscribe, observed.started)

    async def _drive_run(
        self,
        handle: RunHandle,
        lifecycle: Lifecycle,
        unsubscribe: Callable[[], None],
        started: Callable[[], None],
    ) -> None:
        run = handle.run
        outcome = RunOutcome(status="interrupted")
        # A stateless run's thread is its own: nobody to take turns with.
        turn = (
            self._coordinator.thread_turn(run.thread_id, run.run_id)
            if lifecycle is self._stored
            else contextlib.nullcontext()
        )
        try:
            async with turn:
                if handle.body.after_seconds:
                    # A scheduled start, as the API asks; not synchronisation.
                    await asyncio.sleep(handle.body.after_seconds)
                async with self._coordinator.slot():
                    started()
                    outcome = await self._execute(handle, lifecycle)
        except asyncio.CancelledError:
            # Cancelled while still pending: never started, nothing to undo.
            cancelled = RunCancelled("run was cancelled before it started")
            outcome = RunOutcome(status="interrupted", error=error_body(cancelled))
        except Exception as exc:  # a bug or a storage failure, not the graph's
            log.exception("run %s failed outside the graph", run.run_id)
            outcome = RunOutcome(status="error", error=error_body(exc))
        finally:
            unsubscribe()
            await self._finish(handle, lifecycle, outcome)

    async def _execute(self, handle: RunHandle, lifecycle: Lifecycle) -> RunOutcome:
        run, body = handle.run, handle.body
        started = time.perf_counter()
        graph = await lifecycle.graph(handle)
        if lifecycle.logged:  # someone can read its progress: count its steps
            handle.steps = StepCounter.for_graph(graph, resumed=body.command is not None)
        retry = self._retries.policy(body, handle.graph_id, run.assistant_id)
        graph = self._retries.apply(graph, retry, lambda node: self._node_retried(handle, node))
        # Before ``started``: only a rollback's restart point is a checkpoint
        # to run from; the start checkpoint it records is not.
        config = build_config(
            body,
            thread_id=run.thread_id,
            run_id=run.run_id,
            graph_id=handle.graph_id,
            assistant_id=run.assistant_id,
            checkpoint_id=handle.start_checkpoint_id,
        )
        await lifecycle.started(handle, graph)
        await self._emit(handle, lifecycle, "metadata", {"run_id": run.run_id, "attempt": 1})
        graph_run = GraphRun(
            graph=graph, body=body, config=config, keyframe_every=self._keyframe_every
        )
        graph_run.steps = handle.steps
        error: dict[str, Any] | None = None
        status: RunStatus = "success"
        try:
            async with asyncio.timeout(self._settings.timeout_s):
                async for name, payload in graph_run.events():
                    await self._emit(handle, lifecycle, name, payload)
        except TimeoutError:
            status = "timeout"
            error = error_body(RunTimeout(f"run exceeded {self._settings.timeout_s:g} s"))
        except asyncio.CancelledError:
            status = "interrupted"
            error = error_body(RunCancelled(f"run was cancelled ({handle.cancel_action})"))
        except Exception as exc:
            status = "error"
            error = error_body(exc)
        await lifecycle.ended(handle, graph, graph_run, status)
        return RunOutcome(
            status=status,
            output=graph_run.output,
            error=error,
            execution_time=time.perf_counter() - started,
        )

    def _node_retried(self, handle: RunHandle, node: str) -> None:
        self._observer.node_retried(handle.graph_id)
        if handle.steps is not None:
            handle.steps.retried(node)

    async def _finish(self, handle: RunHandle, lifecycle: Lifecycle, outcome: RunOutcome) -> None:
        run = handle.run
        handle.outcome = outcome
        try:
            await lifecycle.finished(handle, outcome)
        finally:
            # The terminal events go out only once the status is stored, so a
            # client that reacts to `error`/`end` by reading the run sees it final.
            if outcome.error is not None:
                await self._emit(handle, lifecycle, "error", outcome.error)
            await self._emit(handle, lifecycle, "end", None)
            if lifecycle.logged:
                await self._events.close(run.run_id)
            self._handles.pop(run.run_id, None)

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

    # -- control ------------------------------------------------------------

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
        await self._cancel_handle(handle, action=action, wait=wait)

    async def _cancel_handle(self, handle: RunHandle, *, action: CancelAction, wait: bool) -> None:
        await self._coordinator.cancel(handle.run.run_id, action)
        if wait:
            await handle.ended()

    async def wait(self, run_id: str) -> RunOutcome | None:
        """The outcome once the run ends; None if this process no longer tracks it
        (a finished stateless run is tracked while it is remembered)."""
        handle = self._handles.get(run_id)
        if handle is None:
            return self._recent.outcome(run_id)
        await handle.ended()
        return handle.outcome

    def is_active(self, run_id: str) -> bool:
        return run_id in self._handles

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
            await self._cancel_handle(handle, action="interrupt", wait=True)
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
