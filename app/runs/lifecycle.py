"""One lifecycle per kind of run, chosen once when the run is created.

What a run keeps decides what happens around its graph; the scheduler and
executor (``app.runs.manager``) are the same for every kind:

=============  ===========================  ================  =================
kind           which runs                   records           events logged
=============  ===========================  ================  =================
``stored``     runs on a thread; stateless  thread + run in   yes
               runs with                    storage, graph's
               ``on_completion="keep"``     checkpoints
``memory``     stateless runs not kept      none (a handle,   yes
               (every transport)            then RecentRuns)
``ephemeral``  batch items not kept         none              no (inline result)
=============  ===========================  ================  =================

A ``memory`` run stores nothing: storing a thread, a run and every checkpoint
only to delete them when the run ends cost ~60 SQLite trips per run when
measured. It runs without a checkpointer unless its stream carries
checkpoints (then a per-run ``InMemorySaver`` that ends with it;
``interrupt()`` works either way). Its events are logged like any run's, so
``Location``/``Last-Event-ID`` resume works. An ``ephemeral`` run is a
``memory`` run whose result is taken inline: nobody could read its log.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.pregel import Pregel

from app import serde
from app.flows.params import flow_params
from app.flows.versions import pin_for_run
from app.runs.execution import GraphRun
from app.runs.handle import RunHandle, RunKind
from app.runs.recent import RecentRuns, RunOutcome
from app.schemas import RunCreate
from app.store import Storage
from app.store.base import RunStatus, ThreadStatus
from graphs.registry import GraphRegistry

__all__ = ["EphemeralLifecycle", "Lifecycle", "MemoryLifecycle", "StoredLifecycle"]


class Lifecycle:
    """What happens around a run's graph; the base is what every kind shares."""

    kind: RunKind
    logged = True  # whether the run's events go to the event log

    def __init__(self, registry: GraphRegistry) -> None:
        self._registry = registry

    async def graph(self, handle: RunHandle) -> Pregel[Any, Any, Any, Any]:
        """The compiled graph to run. Kinds that keep nothing run it without a
        checkpointer: no storage trip is spent on state nobody will read."""
        return await self._registry.get_subgraph(handle.graph_id, params=flow_params(handle.body))

    async def started(self, handle: RunHandle, graph: Pregel[Any, Any, Any, Any]) -> None:
        """The run got its turn and a slot; it executes next."""
        handle.set_status("running")

    async def ended(
        self, handle: RunHandle, graph: Pregel[Any, Any, Any, Any], run: GraphRun, status: RunStatus
    ) -> None:
        """The graph stopped with ``status``; its state is final."""

    async def finished(self, handle: RunHandle, outcome: RunOutcome) -> None:
        """The run is over, however it ended (also when it never started)."""
        handle.set_status(outcome.status)


class EphemeralLifecycle(Lifecycle):
    kind: RunKind = "ephemeral"
    logged = False


class MemoryLifecycle(Lifecycle):
    kind: RunKind = "memory"

    def __init__(self, registry: GraphRegistry, recent: RecentRuns) -> None:
        super().__init__(registry)
        self._recent = recent

    async def graph(self, handle: RunHandle) -> Pregel[Any, Any, Any, Any]:
        graph = await super().graph(handle)
        if _needs_checkpointer(handle.body):
            graph = graph.copy(update={"checkpointer": InMemorySaver()})  # ~20 µs
        return graph

    async def finished(self, handle: RunHandle, outcome: RunOutcome) -> None:
        await super().finished(handle, outcome)
        self._recent.remember(handle.snapshot(), outcome)


class StoredLifecycle(Lifecycle):
    kind: RunKind = "stored"

    def __init__(self, registry: GraphRegistry, storage: Storage) -> None:
        super().__init__(registry)
        self._storage = storage

    async def graph(self, handle: RunHandle) -> Pregel[Any, Any, Any, Any]:
        # A flow run continuing its thread (a resume) runs the version the thread is on.
        pin = await pin_for_run(
            self._registry,
            self._storage.checkpointer,
            handle.graph_id,
            handle.run.thread_id,
            handle.body,
        )
        return await self._registry.get(handle.graph_id, params=pin.params, version=pin.version)

    async def started(self, handle: RunHandle, graph: Pregel[Any, Any, Any, Any]) -> None:
        run = handle.run
        # Issued together: on SQLite, one trip and one commit.
        _, _, start_checkpoint_id = await asyncio.gather(
            self._storage.runs.set_status(run.run_id, "running"),
            self._storage.threads.update(run.thread_id, status="busy"),
            self._start_checkpoint_id(handle, graph),
        )
        if handle.start_checkpoint_id is None:
            handle.start_checkpoint_id = start_checkpoint_id

    async def _start_checkpoint_id(
        self, handle: RunHandle, graph: Pregel[Any, Any, Any, Any]
    ) -> str | None:
        """The checkpoint the run starts from (a rollback restarts there): the
        one it names, else the thread's latest, read as an id alone."""
        if graph.checkpointer is None:
            return None
        named = handle.body.checkpoint_id or (
            handle.body.checkpoint.checkpoint_id if handle.body.checkpoint else None
        )
        if named:
            return named
        return await self._storage.latest_checkpoint_id(handle.run.thread_id, "")

    async def ended(
        self, handle: RunHandle, graph: Pregel[Any, Any, Any, Any], run: GraphRun, status: RunStatus
    ) -> None:
        # The thread's final state and the run's final status, issued together.
        await asyncio.gather(
            self._sync_thread(graph, run, handle.run.thread_id, status=status),
            self._storage.runs.set_status(handle.run.run_id, status),
        )
        handle.status_stored = True

    async def _sync_thread(
        self, graph: Pregel[Any, Any, Any, Any], run: GraphRun, thread_id: str, *, status: RunStatus
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
            and not run.interrupted
            and type(run.output) is dict
            and not _may_break(graph, run.body)
        )
        if ended_cleanly:
            values = serde.jsonable(run.output)
        elif graph.checkpointer is not None:
            snapshot = await graph.aget_state({"configurable": {"thread_id": thread_id}})
            values = serde.jsonable(snapshot.values)
            for task in snapshot.tasks:
                if task.interrupts:
                    interrupts[task.id] = serde.jsonable(list(task.interrupts))
        thread_status: ThreadStatus = (
            "error" if status == "error" else ("interrupted" if interrupts else "idle")
        )
        await self._storage.threads.update(
            thread_id, status=thread_status, values=values, interrupts=interrupts
        )

    async def finished(self, handle: RunHandle, outcome: RunOutcome) -> None:
        if handle.cancel_action == "rollback":
            await self._storage.runs.delete(handle.run.run_id)
        elif not handle.status_stored:  # it never executed, or failed outside the graph
            await self._storage.runs.set_status(handle.run.run_id, outcome.status)


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


def _may_break(graph: Pregel[Any, Any, Any, Any], body: RunCreate) -> bool:
    """Whether a static breakpoint may have stopped the run (graph or request)."""
    return bool(
        body.interrupt_before
        or body.interrupt_after
        or graph.interrupt_before_nodes
        or graph.interrupt_after_nodes
    )
