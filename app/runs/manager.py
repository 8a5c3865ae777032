"""RunManager: creates runs, schedules them, and keeps statuses true.

Scheduling, in one picture::

    create() ──> Run(pending) ──> task: [thread lock] ──> [slot] ──> execute ──> end
                                   FIFO per thread        global limit
                                   (enqueue order)        (max_concurrency)

* Runs of one thread execute one at a time, in creation order (asyncio.Lock
  is FIFO). ``multitask_strategy`` decides what a new run does to the
  thread's active runs: ``reject`` → 409, ``enqueue`` → wait its turn,
  ``interrupt`` → cancel them first, ``rollback`` → cancel, delete them and
  restart from the checkpoint the first of them started from.
* At most ``max_concurrency`` runs execute at once; the rest stay pending.
* Every run ends with exactly one terminal status (success, error, timeout,
  interrupted) and its event log ends with ``end`` (after an ``error`` event
  when it failed), so no stream can hang.

Where a run keeps what it is (``RunHandle.kind``):

* ``stored``: a run on a thread, or a stateless run with
  ``on_completion="keep"`` (on a thread created for it). Thread and run
  records in storage, checkpoints in the registry's checkpointer, events in
  the event log.
  A stored stateless run that is not kept has its thread, runs and
  checkpoints deleted when it ends.
* ``memory`` (``create(..., in_memory=True)``): a stateless run that is
  deleted when it ends, for callers that look runs up through this manager
  (``find``, ``wait``, ``cancel``), as the HTTP endpoints do. Storing records
  only to delete them would write a thread, a run and every checkpoint to
  SQLite and delete them again (~60 SQLite trips per run when measured), so
  it stores none: its temporary thread id is only a name, it runs without a
  checkpointer unless its stream carries checkpoints (then on a per-run
  ``InMemorySaver`` that ends with it; ``interrupt()`` works either way), and
  its events go to the event log like any run's, so its stream can be
  resumed by ``Location``/``Last-Event-ID``.
* ``ephemeral`` (``create(..., ephemeral=True)``, for callers that take the
  result inline such as batch items): like ``memory`` but without a
  checkpointer and without an event log, since nobody could read them.

It is otherwise the same path for all three: same scheduler, executor and
outcome. A temporary thread is the run's own: nothing queues behind it.
Finished stateless runs that are not kept stay findable for a while
(``app.runs.recent``), so ``GET``, ``/join`` and ``/stream`` (resumption from
the event log) keep answering after their records are gone or were never
written.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver

from app import serde
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
from app.runs.execution import GraphRun, build_config
from app.runs.handle import RunHandle, RunKind
from app.runs.inputs import InputKeys
from app.runs.recent import RecentRuns, RunOutcome
from app.runs.resolver import AssistantResolver
from app.schemas import RunCreate
from app.settings import RunSettings
from app.store import Storage
from app.store.base import Run, RunStatus, Thread, ThreadStatus
from app.store.checkpointer import SingleTripSqliteSaver
from graphs.registry import GraphRegistry

__all__ = ["RunManager", "RunOutcome"]

log = logging.getLogger("switchyard.runs")


class RunManager:
    def __init__(
        self,
        *,
        settings: RunSettings,
        storage: Storage,
        registry: GraphRegistry,
        events: EventLog,
        assistants: AssistantResolver,
        model_label: str | None = None,
    ) -> None:
        self._settings = settings
        self._model_label = model_label
        self._storage = storage
        self._registry = registry
        self._events = events
        self._assistants = assistants
        self._handles: dict[str, RunHandle] = {}
        self._thread_locks: dict[str, asyncio.Lock] = {}
        self._slots = asyncio.Semaphore(settings.max_concurrency)
        self._input_keys = InputKeys(registry)
        self._recent = RecentRuns(
            max_runs=settings.recent_stateless, max_outcomes=settings.recent_outputs
        )
        # Half the log: a trimmed delta stream always finds a keyframe to resume on.
        self._keyframe_every = max(1, events.max_events // 2)

    # -- creation -----------------------------------------------------------

    async def create(
        self,
        body: RunCreate,
        *,
        thread_id: str | None,
        in_memory: bool = False,
        ephemeral: bool = False,
    ) -> Run:
        """Validate, persist and schedule a run; returns it while pending.

        For a stateless run (``thread_id=None``) that is not kept, ``in_memory``
        makes it a ``memory`` run and ``ephemeral`` an ``ephemeral`` one (see
        the module docstring); the result of an ephemeral run is only had via
        ``wait``. Either is ignored for other runs.
        """
        graph_id, assistant_id = self._assistants.resolve(body.assistant_id)
        await self._input_keys.check(graph_id, body.input)
        if ephemeral and (thread_id is not None or body.on_completion == "keep"):
            raise ValueError("only stateless runs that are not kept can be ephemeral")
        temporary = thread_id is None and body.on_completion != "keep"
        if temporary and (in_memory or ephemeral):
            kind: RunKind = "ephemeral" if ephemeral else "memory"
            run = Run(
                run_id=str(uuid.uuid4()),
                thread_id=str(uuid.uuid4()),
                assistant_id=assistant_id,
                metadata=self._run_metadata(graph_id, body),
                multitask_strategy=body.multitask_strategy,
            )
            if kind == "memory":  # what GET answers, and how a resumer reads its stream
                run.kwargs = body.model_dump(mode="json", exclude_none=True)
            return await self._schedule(RunHandle(run=run, body=body, graph_id=graph_id, kind=kind))
        threads = self._storage.threads
        # The thread remembers its graph: state and history are read with it.
        owner = {"graph_id": graph_id, "assistant_id": assistant_id}
        active: list[Run] = []  # the thread's runs that have not ended
        if thread_id is None:
            thread = await threads.create(Thread(thread_id=str(uuid.uuid4()), metadata=owner))
            thread_id = thread.thread_id
        else:
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
        handle = RunHandle(run=run, body=body, graph_id=graph_id, temporary=temporary)
        handle.start_checkpoint_id = restart_from
        return await self._schedule(handle)

    def _run_metadata(self, graph_id: str, body: RunCreate) -> dict[str, Any]:
        metadata = dict(body.metadata or {})
        if self._model_label and "model" in self._registry.injected.get(graph_id, ()):
            metadata["model"] = self._model_label  # which LLM answered, offline or not
        return metadata

    async def _schedule(self, handle: RunHandle) -> Run:
        run = handle.run
        if handle.kind != "ephemeral":
            await self._events.open(run.run_id)
        self._handles[run.run_id] = handle
        handle.task = asyncio.create_task(self._drive(handle), name=f"run-{run.run_id}")
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
        for handle in handles:
            await self._cancel_handle(handle, action=body.multitask_strategy, wait=True)
        return restart_from if body.multitask_strategy == "rollback" else None

    # -- execution ----------------------------------------------------------

    def _thread_lock(self, thread_id: str) -> asyncio.Lock:
        lock = self._thread_locks.get(thread_id)
        if lock is None:
            lock = self._thread_locks[thread_id] = asyncio.Lock()
        return lock

    async def _emit(self, handle: RunHandle, event: str, data: Any) -> None:
        if handle.kind == "ephemeral":
            return  # no one can read an ephemeral run's log: do not serialise for it
        await self._events.append(handle.run.run_id, event, serde.dumps(data))

    async def _drive(self, handle: RunHandle) -> None:
        run = handle.run
        outcome = RunOutcome(status="interrupted")
        # A stateless run's temporary thread is its own: nobody to queue behind.
        lock = None if handle.kind != "stored" else self._thread_lock(run.thread_id)
        try:
            async with lock or contextlib.nullcontext():
                if handle.body.after_seconds:
                    # A scheduled start, as the API asks; not synchronisation.
                    await asyncio.sleep(handle.body.after_seconds)
                async with self._slots:
                    outcome = await self._execute(handle)
        except asyncio.CancelledError:
            # Cancelled while still pending: never started, nothing to undo.
            cancelled = RunCancelled("run was cancelled before it started")
            outcome = RunOutcome(status="interrupted", error=error_body(cancelled))
        except Exception as exc:  # a bug or a storage failure, not the graph's
            log.exception("run %s failed outside the graph", run.run_id)
            outcome = RunOutcome(status="error", error=error_body(exc))
        finally:
            await self._finish(handle, outcome)
            if lock is None:
                pass
            elif not lock.locked() and lock is self._thread_locks.get(run.thread_id):
                self._thread_locks.pop(run.thread_id, None)

    async def _execute(self, handle: RunHandle) -> RunOutcome:
        run, body = handle.run, handle.body
        started = time.perf_counter()
        if handle.kind == "stored":
            graph = await self._registry.get(handle.graph_id)
        else:
            # No storage round trip is spent on state nobody will read: the
            # graph runs without a checkpointer (see ``_needs_checkpointer``).
            graph = await self._registry.get_subgraph(handle.graph_id)
            if handle.kind == "memory":
                if _needs_checkpointer(body):
                    # A copy of the compiled graph costs ~20 µs.
                    graph = graph.copy(update={"checkpointer": InMemorySaver()})
                handle.set_status("running")
        config = build_config(
            body,
            thread_id=run.thread_id,
            run_id=run.run_id,
            graph_id=handle.graph_id,
            assistant_id=run.assistant_id,
            checkpoint_id=handle.start_checkpoint_id,
        )
        if handle.kind == "stored":
            # Issued together: on SQLite, one trip and one commit.
            _, _, start_checkpoint_id = await asyncio.gather(
                self._storage.runs.set_status(run.run_id, "running"),
                self._storage.threads.update(run.thread_id, status="busy"),
                _start_checkpoint_id(graph, config),
            )
            if handle.start_checkpoint_id is None:
                handle.start_checkpoint_id = start_checkpoint_id
        await self._emit(handle, "metadata", {"run_id": run.run_id, "attempt": 1})
        graph_run = GraphRun(
            graph=graph,
            body=body,
            config=config,
            keyframe_every=self._keyframe_every,
        )
        try:
            async with asyncio.timeout(self._settings.timeout_s):
                async for name, payload in graph_run.events():
                    await self._emit(handle, name, payload)
            status: RunStatus = "success"
            error = None
        except TimeoutError:
            status = "timeout"
            error = error_body(RunTimeout(f"run exceeded {self._settings.timeout_s:g} s"))
        except asyncio.CancelledError:
            status = "interrupted"
            error = error_body(RunCancelled(f"run was cancelled ({handle.cancel_action})"))
        except Exception as exc:
            status = "error"
            error = error_body(exc)
        if handle.kind == "stored":
            # The thread's final state and the run's final status, issued together.
            await asyncio.gather(
                self._sync_thread(graph, graph_run, run.thread_id, status=status),
                self._storage.runs.set_status(run.run_id, status),
            )
            handle.status_stored = True
        return RunOutcome(
            status=status,
            output=graph_run.output,
            error=error,
            execution_time=time.perf_counter() - started,
        )

    async def _sync_thread(
        self, graph: Any, graph_run: GraphRun, thread_id: str, *, status: RunStatus
    ) -> None:
        """Cache the thread's values and interrupts, and set its status.

        A run that completed without an interrupt ends with its state in its
        last root ``values`` chunk (the same channels ``aget_state`` reads), no
        pending interrupts, and the thread idle: no checkpoint read is needed.
        Any other end (error, timeout, cancel, ``interrupt()`` or a static
        breakpoint possible) reads the state back from the checkpointer.
        """
        values: dict[str, Any] | None = None
        interrupts: dict[str, Any] = {}
        ended_cleanly = (
            status == "success"
            and not graph_run.interrupted
            and type(graph_run.output) is dict
            and not _may_break(graph, graph_run.body)
        )
        if ended_cleanly:
            values = serde.jsonable(graph_run.output)
        elif graph.checkpointer is not None:
            snapshot = await graph.aget_state({"configurable": {"thread_id": thread_id}})
            values = serde.jsonable(snapshot.values)
            for task in snapshot.tasks:
                if task.interrupts:
                    interrupts[task.id] = serde.jsonable(list(task.interrupts))
        failed = status == "error"
        thread_status: ThreadStatus = (
            "error" if failed else ("interrupted" if interrupts else "idle")
        )
        await self._storage.threads.update(
            thread_id, status=thread_status, values=values, interrupts=interrupts
        )

    async def _finish(self, handle: RunHandle, outcome: RunOutcome) -> None:
        run = handle.run
        handle.outcome = outcome
        try:
            if handle.kind == "memory":
                handle.set_status(outcome.status)
                self._recent.remember(handle.snapshot(), outcome)
            elif handle.kind == "ephemeral":
                pass  # nothing was persisted
            elif handle.cancel_action == "rollback":
                await self._storage.runs.delete(run.run_id)
            elif not handle.status_stored:  # it never executed, or failed outside the graph
                await self._storage.runs.set_status(run.run_id, outcome.status)
            if handle.temporary:
                await self._delete_thread_data(run.thread_id)
                self._recent.remember(dataclasses.replace(run, status=outcome.status), outcome)
        finally:
            # The terminal events go out only once the status is stored, so a
            # client that reacts to `error`/`end` by reading the run sees it final.
            if outcome.error is not None:
                await self._emit(handle, "error", outcome.error)
            await self._emit(handle, "end", None)
            if handle.kind != "ephemeral":
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

    async def _delete_thread_data(self, thread_id: str) -> None:
        await self._storage.runs.delete_thread(thread_id)
        await self._storage.threads.delete(thread_id)
        await self._storage.checkpointer.adelete_thread(thread_id)

    async def find(self, thread_id: str, run_id: str) -> Run | None:
        """The run on that thread: its record, or for a stateless run, which has
        none, what it is now or was when it ended (so it can still be read,
        joined and its stream resumed from the event log). Ephemeral runs are
        not found."""
        run = self._memory_run(thread_id, run_id)
        if run is not None:
            return run
        return await self._storage.runs.get(run_id, thread_id=thread_id)

    async def find_any(self, run_id: str) -> Run | None:
        """``find`` for callers that know only the run id (the WebSocket)."""
        return self._memory_run(None, run_id) or await self._storage.runs.get(run_id)

    # -- control ------------------------------------------------------------

    async def cancel(
        self, thread_id: str, run_id: str, *, action: str = "interrupt", wait: bool = False
    ) -> None:
        handle = self._handles.get(run_id)
        if handle is None or handle.run.thread_id != thread_id:
            if await self.find(thread_id, run_id) is None:
                raise RunNotFound(f"run {run_id} not found on thread {thread_id}")
            return  # already finished: cancelling is a no-op
        await self._cancel_handle(handle, action=action, wait=wait)

    async def _cancel_handle(self, handle: RunHandle, *, action: str, wait: bool) -> None:
        if action not in ("interrupt", "rollback"):
            raise InvalidInput(f"cancel action must be 'interrupt' or 'rollback', not {action!r}")
        handle.cancel_action = action
        if handle.task is not None and not handle.task.done():
            handle.task.cancel()
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

    async def cancel_thread(self, thread_id: str) -> None:
        for handle in [h for h in self._handles.values() if h.run.thread_id == thread_id]:
            await self._cancel_handle(handle, action="interrupt", wait=True)

    async def shutdown(self) -> None:
        handles = list(self._handles.values())
        for handle in handles:
            if handle.task is not None:
                handle.task.cancel()
        for handle in handles:
            if handle.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await handle.task


async def _start_checkpoint_id(graph: Any, config: Any) -> str | None:
    """The checkpoint a run starts from (a rollback restarts there): the one
    the run names, else the thread's latest, read as an id alone where the
    checkpointer can (not a checkpoint, which the run itself loads next)."""
    checkpointer = graph.checkpointer
    if checkpointer is None:
        return None
    configurable = config["configurable"]
    if configurable.get("checkpoint_id"):
        return str(configurable["checkpoint_id"])
    if isinstance(checkpointer, SingleTripSqliteSaver):
        return await checkpointer.alatest_id(
            configurable["thread_id"], configurable.get("checkpoint_ns", "")
        )
    saved = await checkpointer.aget_tuple(config)
    checkpoint_id = saved.config["configurable"].get("checkpoint_id") if saved else None
    return str(checkpoint_id) if checkpoint_id else None


# Stream modes that say nothing without a checkpointer: LangGraph emits
# checkpoint events only when it saves checkpoints.
_CHECKPOINT_EVENT_MODES = frozenset({"debug", "checkpoints"})


def _needs_checkpointer(body: RunCreate) -> bool:
    """Whether a ``memory`` run needs its per-run ``InMemorySaver``.

    Its checkpoints die with it, so they matter only to a client that
    streams them. Without a checkpointer LangGraph runs everything else
    alike, ``interrupt()`` and ``interrupt_before/after`` included (the run
    ends with the interrupt, as it would with a saver nobody can resume
    from), and a run costs ~12% less.
    """
    return bool(_CHECKPOINT_EVENT_MODES.intersection(body.stream_modes))


def _may_break(graph: Any, body: RunCreate) -> bool:
    """Whether a static breakpoint may have stopped the run (graph or request)."""
    return bool(
        body.interrupt_before
        or body.interrupt_after
        or graph.interrupt_before_nodes
        or graph.interrupt_after_nodes
    )
