"""The two ways of running a graph that ``astream`` alone does not cover.

``GraphRun`` reads LangGraph's stream as ``(namespace, mode, chunk)`` parts.
Most runs get them straight from ``astream``; these sources give the same
parts for the other two:

* ``event_parts``: ``stream_mode="events"``. LangGraph Server runs the graph
  through ``astream_events(version="v2")``, passing the other stream modes
  on: the root graph's ``on_chain_stream`` events carry exactly what
  ``astream`` would have yielded, and every other callback event
  (``on_chat_model_stream``, ``on_tool_start``, ...) is an ``events`` part.
  Events tagged ``langsmith:hidden`` stay hidden, as there.
* ``protocol_parts``: a run started through the thread streaming protocol.
  LangGraph's ``version="v2"`` stream with its content-block message flag
  on, which is what ``Pregel.astream_events(version="v3")`` drives: its
  ``messages`` parts are ``(MessagesData event, metadata)`` pairs
  (``message-start``, ``content-block-delta``, ... ``message-finish``)
  instead of chunks. A values part's interrupts are folded back into the
  state under ``__interrupt__``, where ``version="v1"`` puts them, so the
  event log has one shape whichever way a run was started.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.pregel import Pregel

__all__ = ["INTERRUPT_KEY", "Part", "event_parts", "protocol_parts"]

Part = tuple[tuple[str, ...], str, Any]
INTERRUPT_KEY = "__interrupt__"  # where LangGraph marks an interrupt in a chunk

try:  # LangGraph's own name for the flag; private, so a missing one is tolerated
    from langgraph._internal._constants import CONFIG_KEY_STREAM_MESSAGES_V2
except ImportError:  # pragma: no cover - older or newer LangGraph
    CONFIG_KEY_STREAM_MESSAGES_V2 = "__pregel_stream_messages_v2"


async def event_parts(
    graph: Pregel[Any, Any, Any, Any],
    graph_input: Any,
    config: RunnableConfig,
    *,
    stream_mode: list[str],
    **kwargs: Any,
) -> AsyncIterator[Part]:
    events = graph.astream_events(
        graph_input,
        config,
        version="v2",
        stream_mode=stream_mode,
        subgraphs=True,
        **kwargs,
    )
    async for event in events:
        if event["event"] == "on_chain_stream" and not event.get("parent_ids"):
            namespace, mode, chunk = event["data"]["chunk"]
            yield tuple(namespace), mode, chunk
        elif "langsmith:hidden" not in (event.get("tags") or ()):
            yield (), "events", event


async def protocol_parts(
    graph: Pregel[Any, Any, Any, Any],
    graph_input: Any,
    config: RunnableConfig,
    *,
    stream_mode: list[str],
    **kwargs: Any,
) -> AsyncIterator[Part]:
    configurable = {**config.get("configurable", {}), CONFIG_KEY_STREAM_MESSAGES_V2: True}
    v2_config: RunnableConfig = {**config, "configurable": configurable}
    stream = graph.astream(  # type: ignore[call-overload]
        graph_input, v2_config, stream_mode=stream_mode, subgraphs=True, version="v2", **kwargs
    )
    async for part in stream:
        mode, chunk = part["type"], part["data"]
        interrupts = part.get("interrupts")
        if mode == "values" and interrupts and type(chunk) is dict:
            chunk = {**chunk, INTERRUPT_KEY: list(interrupts)}
        yield tuple(part["ns"]), mode, chunk
