"""Deleting a thread for good, and pruning it to its latest state.

``delete_thread`` removes everything a thread left behind through the run
manager's one cascade (runs cancelled first, their event logs, checkpoints
and writes, the thread record), then its TTL. LangGraph's in-process server
keeps a deleted thread's checkpoints and logs (langgraph#8054); here the
storage a thread used goes back to what it was before it existed (tested
row by row).

``keep_latest`` keeps the thread and, of its checkpoints, only the latest of
each namespace (with its pending writes), so its state reads the same while
its history is gone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple

from app.store import Storage

__all__ = ["ThreadPurger", "keep_latest_checkpoints"]


class ThreadPurger:
    """Deletes or prunes threads; ``cascade`` is ``RunManager.delete_thread``."""

    def __init__(
        self,
        storage: Storage,
        cascade: Callable[[str], Awaitable[None]],
        forget_ttl: Callable[[str], Awaitable[Any]] | None = None,
    ) -> None:
        self._storage = storage
        self._cascade = cascade
        self._forget_ttl = forget_ttl

    async def delete_thread(self, thread_id: str) -> bool:
        """True if the thread existed. Safe to repeat (a sweeper and a client may race)."""
        existed = await self._storage.threads.get(thread_id) is not None
        await self._cascade(thread_id)
        if self._forget_ttl is not None:
            await self._forget_ttl(thread_id)
        return existed

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
