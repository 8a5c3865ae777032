"""Which version of a flow a run on a thread runs: a continuing run keeps its thread's.

A new version never disturbs what is already going on the old one. A run in
progress holds its compiled graph (``graphs.flows.catalog``); a thread left
mid-flow (an ``interrupt``, a static breakpoint, a checkpoint to fork from)
holds the version in its checkpoints: every compiled flow stamps
``flow_version`` (and ``flow_params``) into the metadata of each checkpoint
it writes. A run that *continues* such a checkpoint runs that version, with
those params unless it gives its own:

* a ``command`` (``Command(resume=...)``, ``goto``),
* no ``input`` (continuing after a static breakpoint),
* a named ``checkpoint_id`` (replay or fork from there).

Anything else (new input) runs the version served now, as a new thread does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from app.flows.params import flow_params
from app.schemas import RunCreate
from graphs.flows.catalog import FLOW_PARAMS_META, FLOW_VERSION_META
from graphs.registry import GraphRegistry

__all__ = [
    "FlowPin",
    "checkpoint_pin",
    "continues_checkpoint",
    "pin_for_run",
    "thread_graph_pin",
]


@dataclass(frozen=True, slots=True)
class FlowPin:
    """What a run compiles: a flow version (None: the served one) and its params."""

    version: int | None = None
    params: dict[str, Any] | None = None


def continues_checkpoint(body: RunCreate) -> bool:
    """Whether the run goes on from a checkpoint rather than starting with new input."""
    return body.command is not None or body.input is None or _named(body) is not None


def _named(body: RunCreate) -> str | None:
    return body.checkpoint_id or (body.checkpoint.checkpoint_id if body.checkpoint else None)


async def checkpoint_pin(
    checkpointer: BaseCheckpointSaver[Any], thread_id: str, checkpoint_id: str | None = None
) -> FlowPin:
    """The version and params stamped on the thread's latest (or the named) checkpoint."""
    configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id is not None:
        configurable["checkpoint_id"] = checkpoint_id
    saved = await checkpointer.aget_tuple({"configurable": configurable})
    metadata: dict[str, Any] = dict(saved.metadata) if saved is not None else {}
    version = metadata.get(FLOW_VERSION_META)
    raw = metadata.get(FLOW_PARAMS_META)
    params = json.loads(raw) if isinstance(raw, str) else None
    return FlowPin(
        version if isinstance(version, int) and not isinstance(version, bool) else None,
        params if isinstance(params, dict) else None,
    )


async def pin_for_run(
    registry: GraphRegistry,
    checkpointer: BaseCheckpointSaver[Any] | None,
    graph_id: str,
    thread_id: str,
    body: RunCreate,
) -> FlowPin:
    """The version and params a stored run of ``graph_id`` on ``thread_id`` compiles.

    Costs one checkpoint read, only for a flow run that continues a checkpoint.
    """
    given = flow_params(body)
    if registry.flow(graph_id) is None or checkpointer is None or not continues_checkpoint(body):
        return FlowPin(None, given)
    pinned = await checkpoint_pin(checkpointer, thread_id, _named(body))
    return FlowPin(pinned.version, given if given is not None else pinned.params)


async def thread_graph_pin(
    registry: GraphRegistry,
    checkpointer: BaseCheckpointSaver[Any] | None,
    graph_id: str,
    thread_id: str,
) -> FlowPin:
    """The version and params that interpret a flow thread's checkpoints (its state,
    its next nodes): those of its latest checkpoint. Code graphs: nothing pinned."""
    if registry.flow(graph_id) is None or checkpointer is None:
        return FlowPin()
    return await checkpoint_pin(checkpointer, thread_id)
