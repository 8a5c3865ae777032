"""Run creation: validate a run, give it its thread and lifecycle, and schedule it.

What a run keeps (stored, memory, ephemeral) is decided once, from the request
alone, by ``app.runs.lifecycle``: the same body gets the same lifecycle over
every transport.

``multitask_strategy`` decides what a new run does to its thread's active
runs: ``reject`` → 409, ``enqueue`` → wait its turn, ``interrupt`` → cancel
them first, ``rollback`` → cancel, delete them and restart from the
checkpoint the first of them started from. One creation per thread at a
time, across instances (``coordinator.thread_lock``): the check and the
record it decides about are one step.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Mapping
from typing import Any

from app.coordinator import CancelAction, Coordinator
from app.errors import RunConflict, ThreadExists, ThreadNotFound
from app.flows.params import check_flow_params
from app.runs.driver import RunDriver
from app.runs.handle import RunHandle
from app.runs.inputs import InputKeys
from app.runs.lifecycle import Lifecycle
from app.runs.resolver import AssistantResolver
from app.runs.retries import RetryPolicies
from app.schemas import RunCreate
from app.store import Storage
from app.store.base import Run, Thread
from app.store.filters import Filters
from graphs.registry import GraphRegistry

__all__ = ["RunCreation"]


class RunCreation:
    def __init__(
        self,
        *,
        registry: GraphRegistry,
        storage: Storage,
        assistants: AssistantResolver,
        coordinator: Coordinator,
        driver: RunDriver,
        memory: Lifecycle,
        ephemeral: Lifecycle,
        retries: RetryPolicies,
        model_label: str | None = None,
    ) -> None:
        self._registry = registry
        self._storage = storage
        self._assistants = assistants
        self._coordinator = coordinator
        self._driver = driver
        self._memory = memory
        self._ephemeral = ephemeral
        self._retries = retries
        self._model_label = model_label
        self._input_keys = InputKeys(registry)

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
            return await self._driver.schedule(handle, lifecycle)
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
        return await self._driver.schedule(handle, self._driver.stored)

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
        handles = [
            self._driver.handles[r.run_id] for r in active if r.run_id in self._driver.handles
        ]
        restart_from = next((h.start_checkpoint_id for h in handles if h.task), None)
        action: CancelAction = "rollback" if body.multitask_strategy == "rollback" else "interrupt"
        for handle in handles:
            await self._driver.cancel_handle(handle, action=action, wait=True)
        for elsewhere in [r for r in active if r.run_id not in self._driver.handles]:
            # Executing on another instance: the signal goes there, and the new
            # run's turn comes only once that run has ended.
            await self._coordinator.cancel(elsewhere.run_id, action)
        return restart_from if action == "rollback" else None
