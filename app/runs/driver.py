"""RunDriver: one run from its schedule to its terminal status.

    schedule() ──> task: [thread turn] ──> [slot] ──> execute ──> finish
                         FIFO per thread    per-instance limit      status, error, end

Turns, slots and cancel signals belong to the coordinator (``app.coordinator``).
Every run ends with exactly one terminal status (success, error, timeout,
interrupted) and its event log ends with ``end`` (after an ``error`` event
when it failed), so no stream can hang. A stored run's claim is released when
it ends. ``handles`` are the runs this process drives that have not ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from app import serde
from app.coordinator import CancelAction, Coordinator
from app.errors import RunCancelled, RunTimeout, error_body
from app.events import EventLog
from app.observability.runs import RunObserver
from app.runs.execution import GraphRun, build_config
from app.runs.handle import RunHandle
from app.runs.lifecycle import Lifecycle
from app.runs.recent import RunOutcome
from app.runs.retries import RetryPolicies
from app.runs.steps import StepCounter
from app.runs.thread_watch import ThreadWatch
from app.schemas import RunCreate
from app.settings import RunSettings
from app.store.base import Run, RunStatus

__all__ = ["RunDriver"]

log = logging.getLogger("switchyard.runs")


class RunDriver:
    def __init__(
        self,
        *,
        settings: RunSettings,
        events: EventLog,
        coordinator: Coordinator,
        stored: Lifecycle,
        observer: RunObserver,
        retries: RetryPolicies,
    ) -> None:
        self._settings = settings
        self._events = events
        self._observer = observer
        self._retries = retries
        self._coordinator = coordinator
        self.stored = stored  # the lifecycle of runs with records: they take thread turns
        self.handles: dict[str, RunHandle] = {}
        # Called once per run, after its end event, e.g. to send its webhook;
        # must return at once (schedule work, never await it here).
        self.end_hooks: list[Callable[[Run, RunCreate, RunOutcome], None]] = []
        # Half the log: a trimmed delta stream always finds a keyframe to resume on.
        self._keyframe_every = max(1, events.max_events // 2)
        self.thread_watch = ThreadWatch()  # wakes thread streams when a run is scheduled

    async def schedule(self, handle: RunHandle, lifecycle: Lifecycle) -> Run:
        run = handle.run
        if lifecycle.logged:
            await self._events.open(run.run_id)
        self.handles[run.run_id] = handle
        # Watched from now on: a cancel may arrive before the task first runs.
        unsubscribe = self._coordinator.on_cancel(run.run_id, handle.cancel)
        handle.task = asyncio.create_task(
            self._drive(handle, lifecycle, unsubscribe), name=f"run-{run.run_id}"
        )
        if handle.kind == "stored":
            self.thread_watch.notify(run.thread_id)
        return run

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
            if lifecycle is self.stored
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
                if lifecycle is self.stored:
                    await self.release(run.run_id)

    async def release(self, run_id: str) -> None:
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
            self.handles.pop(run.run_id, None)
            for hook in self.end_hooks:
                try:
                    hook(run, handle.body, outcome)
                except Exception:
                    log.exception("end hook failed for run %s", run.run_id)

    async def cancel_handle(self, handle: RunHandle, *, action: CancelAction, wait: bool) -> None:
        await self._coordinator.cancel(handle.run.run_id, action)
        if wait:
            await handle.ended()
