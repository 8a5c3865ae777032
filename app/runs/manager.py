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
* A stored run is claimed (``coordinator.claim``) before its record exists
  and released when it ends. A run left pending or running by an instance
  that died is claimable again: ``recover`` adopts it, and either resumes it
  from its thread's last checkpoint with ``attempt + 1`` or fails it
  (``RunSettings.recovery``). Embedded, that happens at startup; distributed,
  every instance also looks every ``lease_s / 2``.

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
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from app import serde
from app.coordinator import CancelAction, Coordinator
from app.errors import (
    EventsExpired,
    InvalidInput,
    RunCancelled,
    RunConflict,
    RunNotFound,
    RunTimeout,
    ThreadExists,
    ThreadNotFound,
    WorkerDied,
    error_body,
)
from app.events import Event, EventLog
from app.flows.params import check_flow_params
from app.observability.runs import RunObserver
from app.runs.execution import GraphRun, build_config
from app.runs.handle import RunHandle
from app.runs.inputs import InputKeys
from app.runs.lifecycle import EphemeralLifecycle, Lifecycle, MemoryLifecycle, StoredLifecycle
from app.runs.recent import RecentRuns, RunOutcome
from app.runs.resolver import AssistantResolver
from app.runs.retries import RetryPolicies
from app.runs.steps import StepCounter
from app.runs.thread_watch import ThreadWatch
from app.schemas import RunCreate
from app.settings import RunSettings
from app.store import Storage
from app.store.base import ACTIVE_RUN_STATUSES, Run, RunStatus, Thread
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
        self._observer = observer or RunObserver()
        self._retries = RetryPolicies(settings.retry, settings.retry_by_assistant)
        self._model_label = model_label
        self._storage = storage
        self._registry = registry
        self._events = events
        self._assistants = assistants
        self._coordinator = coordinator
        self._handles: dict[str, RunHandle] = {}
        # Called once per run, after its end event, e.g. to send its webhook;
        # must return at once (schedule work, never await it here).
        self.end_hooks: list[Callable[[Run, RunCreate, RunOutcome], None]] = []
        self._input_keys = InputKeys(registry)
        self._recent = RecentRuns(
            max_runs=settings.recent_stateless,
            max_outcomes=settings.recent_outputs,
            max_bytes=settings.recent_max_bytes,
        )
        self._stored = StoredLifecycle(registry, storage)
        self._memory = MemoryLifecycle(registry, self._recent)
        self._ephemeral = EphemeralLifecycle(registry)
        # Half the log: a trimmed delta stream always finds a keyframe to resume on.
        self._keyframe_every = max(1, events.max_events // 2)
        self.thread_watch = ThreadWatch()  # wakes thread streams when a run is scheduled

    # -- creation -----------------------------------------------------------

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
        """Validate, persist and schedule a run; returns it while pending.

        ``filters`` (from authorization) scope the existing thread a run may
        use: a thread they hide is treated as missing. ``thread_metadata`` is
        added to a thread the run creates (its owner, stamped by auth).

        A stateless run (``thread_id=None``) that is not kept is a ``memory``
        run, or with ``ephemeral`` (for callers that take the result inline via
        ``wait``, such as batch items) an ``ephemeral`` one; see
        ``app.runs.lifecycle``. ``protocol``: started by the thread streaming
        protocol (``app.runs.sources.protocol_parts``).
        """
        body, graph_id, assistant_id = await self._assistants.for_run(body)
        check_flow_params(self._registry, graph_id, body)
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
        # One creation per thread at a time, across instances: the multitask
        # check and the record it decides about are one step ("reject" has one winner).
        lock = (
            self._coordinator.thread_lock(thread_id)
            if thread_id is not None
            else contextlib.nullcontext()
        )
        async with lock:
            thread_id, active = await self._thread_for(
                thread_id, body, graph_id, assistant_id, filters, thread_metadata
            )
            restart_from = await self._apply_multitask(thread_id, body, active)
            run = Run(
                run_id=str(uuid.uuid4()),
                thread_id=thread_id,
                assistant_id=assistant_id,
                metadata=self._run_metadata(graph_id, body),
                multitask_strategy=body.multitask_strategy,
                kwargs=body.model_dump(mode="json", exclude_none=True),
            )
            # Claimed before it exists: recovery never sees it active and unclaimed.
            await self._coordinator.claim(run.run_id)
            await self._storage.runs.create(run)
        handle = RunHandle(run=run, body=body, graph_id=graph_id, protocol=protocol)
        handle.start_checkpoint_id = restart_from
        return await self._schedule(handle, self._stored)

    async def _thread_for(
        self,
        thread_id: str | None,
        body: RunCreate,
        graph_id: str,
        assistant_id: str,
        filters: Filters | None = None,
        thread_metadata: Mapping[str, Any] | None = None,
    ) -> tuple[str, list[Run]]:
        """The stored run's thread (created when needed) and its active runs."""
        threads = self._storage.threads
        # The thread remembers its graph: state and history are read with it.
        owner = {"graph_id": graph_id, "assistant_id": assistant_id}
        new_metadata = {**(thread_metadata or {}), **owner}
        if thread_id is None:  # a stateless run that is kept: a thread of its own
            thread = await threads.create(
                Thread(thread_id=str(uuid.uuid4()), metadata=new_metadata)
            )
            return thread.thread_id, []
        # Read together: on SQLite, one trip (see ``SqliteTrips``).
        existing, active = await asyncio.gather(
            threads.get(thread_id, filters=filters), self._storage.runs.active(thread_id)
        )
        if existing is None:
            missing = ThreadNotFound(
                f"thread {thread_id} does not exist; create it first or pass if_not_exists='create'"
            )
            if body.if_not_exists != "create":
                raise missing
            try:
                await threads.create(Thread(thread_id=thread_id, metadata=new_metadata))
            except ThreadExists:
                raise missing from None  # another user's thread: as if it did not exist
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
        if handle.kind == "stored":
            self.thread_watch.notify(run.thread_id)
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
        for elsewhere in [r for r in active if r.run_id not in self._handles]:
            # Executing on another instance: the signal goes there, and the new
            # run's turn comes only once that run has ended.
            await self._coordinator.cancel(elsewhere.run_id, action)
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
            try:
                await self._finish(handle, lifecycle, outcome)
            finally:
                if lifecycle is self._stored:
                    await self._release(run.run_id)

    async def _release(self, run_id: str) -> None:
        try:
            await self._coordinator.release(run_id)
        except Exception:  # its lease runs out instead; recovery finds the run ended
            log.exception("could not release the claim of run %s", run_id)

    async def _execute(self, handle: RunHandle, lifecycle: Lifecycle) -> RunOutcome:
        run, body = handle.run, handle.body
        started = time.perf_counter()
        graph = await lifecycle.graph(handle)
        if lifecycle.logged:  # someone can read its progress: count its steps
            # A resumed thread or a taken-over run starts mid-graph: total unknown.
            resumed = body.command is not None or handle.attempt > 1
            handle.steps = StepCounter.for_graph(graph, resumed=resumed)
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
        metadata = {"run_id": run.run_id, "attempt": handle.attempt}
        await self._emit(handle, lifecycle, "metadata", metadata)
        graph_run = GraphRun(
            graph=graph,
            body=body,
            config=config,
            keyframe_every=self._keyframe_every,
            protocol=handle.protocol,
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
            for hook in self.end_hooks:
                try:
                    hook(run, handle.body, outcome)
                except Exception:
                    log.exception("end hook failed for run %s", run.run_id)

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

    # -- recovery -----------------------------------------------------------

    async def recover(self) -> list[str]:
        """Adopt the active runs nobody executes (their instance died, or this
        process before it restarted); returns their ids."""
        active = [r for r in await self._storage.runs.all_active() if r.run_id not in self._handles]
        if not active:
            return []
        orphans = set(await self._coordinator.claimable([r.run_id for r in active]))
        adopted: list[str] = []
        for run in active:  # oldest first: a thread's runs queue in creation order
            if run.run_id not in orphans or not await self._coordinator.claim(run.run_id):
                continue
            fresh = await self._storage.runs.get(run.run_id)
            if fresh is None or fresh.status not in ("pending", "running"):
                await self._release(run.run_id)  # it ended while we looked
                continue
            try:
                await self._adopt(fresh)
            except Exception:
                log.exception("could not take over run %s", run.run_id)
                await self._release(run.run_id)
                continue
            adopted.append(run.run_id)
        return adopted

    async def recover_forever(self, every_s: float) -> None:
        """``recover`` on a fixed cadence, for as long as the server runs."""
        while True:
            await asyncio.sleep(every_s)  # the cadence of the scan, not a wait for state
            try:
                adopted = await self.recover()
            except Exception:
                log.exception("crash recovery scan failed; next one in %.1f s", every_s)
                continue
            if adopted:
                log.warning("took over %d runs of a dead instance: %s", len(adopted), adopted)

    async def _adopt(self, run: Run) -> None:
        graph_id, _ = self._assistants.resolve(run.assistant_id)
        body = RunCreate.model_validate(run.kwargs)
        handle = RunHandle(run=run, body=body, graph_id=graph_id)
        if run.status == "running":  # it had started: some of it may be done
            handle.attempt = run.attempt + 1
            if self._settings.recovery == "fail":
                await self._fail_orphan(handle)
                return
            if await self._saved_progress(run):
                # Continue from the thread's last checkpoint: LangGraph runs
                # the pending tasks of the step it stopped in.
                fresh_start = dict.fromkeys(("input", "command", "checkpoint_id", "checkpoint"))
                handle.body = body.model_copy(update=fresh_start)
            handle.run = await self._storage.runs.set_status(
                run.run_id, "pending", attempt=handle.attempt
            )
        log.warning("taking over run %s (attempt %d)", run.run_id, handle.attempt)
        await self._schedule(handle, self._stored)

    async def _saved_progress(self, run: Run) -> bool:
        """Whether the thread's latest checkpoint was written by this run."""
        config: Any = {"configurable": {"thread_id": run.thread_id, "checkpoint_ns": ""}}
        saved = await self._storage.checkpointer.aget_tuple(config)
        return saved is not None and saved.metadata.get("run_id") == run.run_id

    async def _fail_orphan(self, handle: RunHandle) -> None:
        """``recovery = "fail"``: the run ends with an error that says why."""
        run = handle.run
        died = WorkerDied(
            f"the instance executing run {run.run_id} stopped (attempt {handle.attempt - 1});"
            " SWITCHYARD_RUNS_RECOVERY=fail leaves it failed"
        )
        await self._events.open(run.run_id)
        await self._storage.runs.set_status(run.run_id, "error", attempt=handle.attempt)
        await self._storage.threads.update(run.thread_id, status="error")
        await self._events.append(run.run_id, "error", serde.dumps(error_body(died)))
        await self._events.append(run.run_id, "end", serde.dumps(None))
        await self._events.close(run.run_id)
        await self._release(run.run_id)

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
