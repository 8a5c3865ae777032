"""Deleting a thread for good, and pruning it to its latest state.

``delete_thread`` removes everything a thread left behind: its runs (cancelled
first), their event logs, its checkpoints and writes, its TTL, and the
thread record. LangGraph's in-process server keeps a deleted thread's
checkpoints and logs (langgraph#8054); here the storage a thread used goes
back to what it was before the thread existed (tested row by row).

``keep_latest`` keeps the thread and, of its checkpoints, only the latest of
each namespace (with its pending writes), so its state reads the same while
its history is gone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple

from app.events import EventLog
from app.store import Storage

__all__ = ["ThreadPurger", "keep_latest_checkpoints"]

_PAGE = 1000


class ThreadPurger:
    """Deletes or prunes threads; ``cancel_runs`` stops a thread's live runs first."""

    def __init__(
        self,
        storage: Storage,
        events: EventLog,
        cancel_runs: Callable[[str], Awaitable[None]],
        forget_ttl: Callable[[str], Awaitable[Any]] | None = None,
    ) -> None:
        self._storage = storage
        self._events = events
        self._cancel_runs = cancel_runs
        self._forget_ttl = forget_ttl

    async def delete_thread(self, thread_id: str) -> bool:
        """True if the thread existed. Safe to repeat (a sweeper and a client may race)."""
        await self._cancel_runs(thread_id)
        run_ids: list[str] = []
        while page := await self._storage.runs.for_thread(
            thread_id, limit=_PAGE, offset=len(run_ids)
        ):
            run_ids += [run.run_id for run in page]
        for run_id in run_ids:
            await self._events.delete(run_id)
        await self._storage.runs.delete_thread(thread_id)
        await self._storage.checkpointer.adelete_thread(thread_id)
        if self._forget_ttl is not None:
            await self._forget_ttl(thread_id)
        return await self._storage.threads.delete(thread_id)

    async def prune(self, thread_id: str, strategy: str) -> bool:
        """Apply a prune/TTL strategy; True if the thread was pruned. ``keep_latest``
        leaves a thread with a live run alone: its run is writing checkpoints."""
        if strategy == "delete":
            return await self.delete_thread(thread_id)
        if await self._storage.threads.get(thread_id) is None:
            return False
        if await self._storage.runs.active(thread_id):
            return False
        await keep_latest_checkpoints(self._storage.checkpointer, thread_id)
        return True


async def keep_latest_checkpoints(saver: BaseCheckpointSaver[Any], thread_id: str) -> int:
    """Drop every checkpoint of the thread but the latest per namespace; returns
    how many were dropped. Uses the saver's own ``aprune`` where it has one."""
    try:
        await saver.aprune([thread_id], strategy="keep_latest")
        return -1
    except NotImplementedError:
        pass
    latest: dict[str, CheckpointTuple] = {}
    total = 0
    async for item in saver.alist({"configurable": {"thread_id": thread_id}}):
        total += 1
        ns = item.config["configurable"].get("checkpoint_ns", "")
        kept = latest.get(ns)
        if kept is None or _checkpoint_id(item) > _checkpoint_id(kept):
            latest[ns] = item
    if total == len(latest):
        return 0
    await saver.adelete_thread(thread_id)
    for ns, item in latest.items():
        config: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}
        new_config = await saver.aput(
            config, item.checkpoint, item.metadata, item.checkpoint["channel_versions"]
        )
        for task_id, channel, value in item.pending_writes or []:
            await saver.aput_writes(new_config, [(channel, value)], task_id)
    return total - len(latest)


def _checkpoint_id(item: CheckpointTuple) -> str:
    # Checkpoint ids are uuid6: their text sorts in creation order.
    return str(item.config["configurable"]["checkpoint_id"])
