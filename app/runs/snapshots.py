"""Thread state as the LangGraph API shows it: StateSnapshot → JSON."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import StateSnapshot

from app import serde

__all__ = ["checkpoint_json", "copy_checkpoints", "empty_state", "json_schema", "snapshot_json"]

log = logging.getLogger("switchyard.state")


def json_schema(method: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
    """A graph's JSON schema, or None where LangGraph cannot derive one.

    Deriving can fail for valid graphs (e.g. ``typing.TypedDict`` state on
    Python 3.11 trips pydantic); that must not turn a request into a 500.
    """
    try:
        return method()
    except Exception as exc:
        log.debug("no JSON schema from %s: %s", method, exc)
        return None


def checkpoint_json(config: RunnableConfig | None) -> dict[str, Any] | None:
    if not config:
        return None
    conf = config.get("configurable", {})
    return {
        "thread_id": conf.get("thread_id"),
        "checkpoint_ns": conf.get("checkpoint_ns", ""),
        "checkpoint_id": conf.get("checkpoint_id"),
        "checkpoint_map": conf.get("checkpoint_map"),
    }


def snapshot_json(snapshot: StateSnapshot) -> dict[str, Any]:
    tasks = []
    interrupts: list[Any] = []
    for task in snapshot.tasks:
        task_interrupts = serde.jsonable(list(task.interrupts))
        interrupts.extend(task_interrupts)
        state = task.state
        tasks.append(
            {
                "id": task.id,
                "name": task.name,
                "path": serde.jsonable(task.path),
                "error": repr(task.error) if task.error else None,
                "interrupts": task_interrupts,
                "checkpoint": checkpoint_json(state) if isinstance(state, dict) else None,
                "state": snapshot_json(state) if isinstance(state, StateSnapshot) else None,
                "result": serde.jsonable(task.result) if task.result is not None else None,
            }
        )
    return {
        "values": serde.jsonable(snapshot.values),
        "next": list(snapshot.next),
        "checkpoint": checkpoint_json(snapshot.config),
        "metadata": serde.jsonable(snapshot.metadata or {}),
        "created_at": snapshot.created_at,
        "parent_checkpoint": checkpoint_json(snapshot.parent_config),
        "tasks": tasks,
        "interrupts": interrupts,
    }


def empty_state(thread_id: str) -> dict[str, Any]:
    """The state of a thread no run has touched yet."""
    return {
        "values": {},
        "next": [],
        "checkpoint": None,
        "metadata": {},
        "created_at": None,
        "parent_checkpoint": None,
        "tasks": [],
        "interrupts": [],
    }


async def copy_checkpoints(saver: BaseCheckpointSaver[Any], source: str, target: str) -> int:
    """Copy every checkpoint (and pending writes) of one thread to another.

    The embedded savers do not implement ``acopy_thread``, so the copy walks
    the source oldest first and re-puts each checkpoint under the new
    thread id, keeping parent links; returns how many were copied.
    """
    try:
        await saver.acopy_thread(source, target)
        return -1
    except NotImplementedError:
        pass
    tuples = [t async for t in saver.alist({"configurable": {"thread_id": source}})]
    for item in reversed(tuples):
        conf = item.config["configurable"]
        parent = (item.parent_config or {}).get("configurable", {}).get("checkpoint_id")
        put_config: RunnableConfig = {
            "configurable": {
                "thread_id": target,
                "checkpoint_ns": conf.get("checkpoint_ns", ""),
                **({"checkpoint_id": parent} if parent else {}),
            }
        }
        new_config = await saver.aput(
            put_config, item.checkpoint, item.metadata, item.checkpoint["channel_versions"]
        )
        for task_id, channel, value in item.pending_writes or []:
            await saver.aput_writes(new_config, [(channel, value)], task_id)
    return len(tuples)
