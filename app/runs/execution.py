"""One run of a compiled graph, as the sequence of (event name, payload) pairs.

This module knows LangGraph's ``astream`` and the wire names of the LangGraph
Server API; it knows nothing of HTTP, storage or scheduling (see ``runs``).

Wire names: the event is the stream mode (``messages-tuple`` is sent as
``messages``), and a subgraph's event is ``mode|<node>:<task_id>`` (one
``|``-separated segment per nesting level). ``delta`` is computed here from
the ``values`` snapshots of each namespace, one encoder per namespace.

Keyframes: besides the first delta of each namespace, every namespace's first
delta after each ``keyframe_every`` events is a keyframe (the full state), so
a reader whose history was trimmed from the event log can re-synchronise from
the log alone (``app.events.resume``). ``RunManager`` sets the interval to half
the log's ``max_events``; with the default log size that is never in practice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.pregel import Pregel
from langgraph.types import Command

from app.runs.delta import DeltaEncoder, Op
from app.runs.messages_mode import MessageAccumulator
from app.runs.sources import INTERRUPT_KEY, event_parts, protocol_parts
from app.runs.steps import StepCounter
from app.schemas import CommandBody, RunCreate

__all__ = ["GraphRun", "build_config", "build_input"]

# What each requested mode asks of LangGraph's astream ("events" is no
# stream mode of LangGraph's: it is how the graph is run, see app.runs.sources).
_GRAPH_MODE = {"messages-tuple": "messages", "messages": "messages", "delta": "values"}
_NOT_GRAPH_MODES = frozenset({"events"})
_WIRE_NAME = {"messages-tuple": "messages"}


def build_input(body: RunCreate) -> Any:
    if body.command is None:
        return body.input
    return _command(body.command)


def _command(cmd: CommandBody) -> Command[Any]:
    kwargs: dict[str, Any] = {}
    if cmd.resume is not None:
        kwargs["resume"] = cmd.resume
    if cmd.update is not None:
        kwargs["update"] = cmd.update
    if cmd.goto is not None:
        kwargs["goto"] = cmd.goto
    return Command(**kwargs)


_SERVER_KEYS = ("thread_id", "run_id", "graph_id", "assistant_id")


def build_config(
    body: RunCreate,
    *,
    thread_id: str,
    run_id: str,
    graph_id: str,
    assistant_id: str,
    checkpoint_id: str | None = None,
) -> RunnableConfig:
    user = body.config or {}
    configurable: dict[str, Any] = dict(user.get("configurable") or {})
    server = dict(zip(_SERVER_KEYS, (thread_id, run_id, graph_id, assistant_id), strict=True))
    configurable.update(server)
    if body.checkpoint is not None:
        configurable.update(body.checkpoint.model_dump(exclude_none=True, exclude={"thread_id"}))
    checkpoint_id = body.checkpoint_id or checkpoint_id
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    # LangGraph copies the configurable's scalars (thread_id, run_id,
    # graph_id, assistant_id) into every node's and checkpoint's metadata
    # itself; repeating them here would only add to its per-task merging.
    metadata = {**(user.get("metadata") or {}), **(body.metadata or {})}
    for key in _SERVER_KEYS:  # the server's, never a client's
        metadata.pop(key, None)
    config: RunnableConfig = {"configurable": configurable, "metadata": metadata}
    if "recursion_limit" in user:
        config["recursion_limit"] = user["recursion_limit"]
    if "tags" in user:
        config["tags"] = list(user["tags"])
    if "run_name" in user:
        config["run_name"] = user["run_name"]
    return config


@dataclass
class GraphRun:
    """Streams one run; ``output`` holds the root's last ``values`` afterwards,
    and ``interrupted`` whether any chunk carried ``__interrupt__`` (a node
    called ``interrupt()``; static breakpoints do not say so in ``values``).

    ``protocol``: the run was started through the thread streaming protocol,
    whose ``messages`` are content-block events (``app.runs.sources``)."""

    graph: Pregel[Any, Any, Any, Any]
    body: RunCreate
    config: RunnableConfig
    output: Any = None
    interrupted: bool = False
    keyframe_every: int = 0  # 0: only the first delta of a namespace is a keyframe
    protocol: bool = False
    # Counts root steps (app.runs.steps); None: no one reads this run's progress.
    steps: StepCounter | None = None
    _encoders: dict[tuple[str, ...], DeltaEncoder] = field(default_factory=dict)
    _keyframed: dict[tuple[str, ...], int] = field(default_factory=dict)  # ns -> epoch
    _accumulators: dict[tuple[str, ...], MessageAccumulator] = field(default_factory=dict)
    _emitted: int = 0

    @property
    def requested(self) -> list[str]:
        return self.body.stream_modes

    def _graph_modes(self) -> list[str]:
        # "values" is always streamed: it is the run's output, and the source
        # of delta ops; it is only forwarded when the client asked for it.
        modes = {_GRAPH_MODE.get(mode, mode) for mode in self.requested if mode != "progress"}
        modes.add("values")
        if self.steps is not None:
            modes.add("updates")  # steps are counted from it; forwarded only if asked
        return sorted(modes - _NOT_GRAPH_MODES)

    def _parts(self, nested: bool) -> AsyncIterator[Any]:
        """LangGraph's stream: ``(namespace, mode, chunk)`` parts, or
        ``(mode, chunk)`` from a plain ``astream`` without ``nested``."""
        graph_input = build_input(self.body)
        kwargs: dict[str, Any] = {
            "interrupt_before": self.body.interrupt_before,
            "interrupt_after": self.body.interrupt_after,
            "context": self.body.context,
            "durability": self.body.durability,
        }
        modes = self._graph_modes()
        if self.protocol:
            return protocol_parts(self.graph, graph_input, self.config, stream_mode=modes, **kwargs)
        if "events" in self.requested:
            return event_parts(self.graph, graph_input, self.config, stream_mode=modes, **kwargs)
        return self.graph.astream(
            graph_input,
            self.config,
            stream_mode=modes,  # type: ignore[arg-type]
            subgraphs=nested,
            **kwargs,
        )

    async def events(self) -> AsyncIterator[tuple[str, Any]]:
        # One generator, not a counting wrapper around another: each async
        # generator layer costs every event a hop and every run a setup.
        requested = self.requested
        wants_values = "values" in requested
        wants_delta = "delta" in requested
        wants_tuples = "messages-tuple" in requested or self.protocol
        wants_messages = "messages" in requested and not self.protocol
        wants_progress = "progress" in requested
        steps = self.steps
        # What the client asked for, not what the graph streams: "updates"
        # may be streamed only to count steps.
        forward = {_GRAPH_MODE.get(m, m) for m in requested} - {"values", "messages", "progress"}
        subgraphs = self.body.stream_subgraphs or self.protocol
        # Subgraph streaming costs ~15% of a small graph's run; without it
        # LangGraph yields exactly the root events (checked for every mode),
        # so it is only asked for when some subgraph event can be forwarded.
        # The other sources always stream nested parts.
        nested = subgraphs or wants_tuples or wants_messages
        nested_parts = nested or self.protocol or "events" in requested
        async for part in self._parts(nested):
            namespace, mode, chunk = part if nested_parts else ((), *part)
            ns: tuple[str, ...] = tuple(namespace)
            if ns and not subgraphs:
                if mode != "messages":
                    continue
                # Tokens of a nested LLM call are the answer the user waits
                # for, so they stream even without stream_subgraphs.
                ns = ()
            suffix = "|" + "|".join(ns) if ns else ""
            if type(chunk) is dict and INTERRUPT_KEY in chunk:
                self.interrupted = True
            if mode == "values":
                if not ns:
                    self.output = chunk
                if wants_values:
                    self._emitted += 1
                    yield "values" + suffix, chunk
                if wants_delta:
                    ops = self._delta(ns, chunk)
                    self._emitted += 1
                    yield "delta" + suffix, {"ops": ops}
            elif mode == "messages":
                if wants_tuples:
                    self._emitted += 1
                    yield "messages" + suffix, list(chunk)
                if wants_messages:
                    accumulator = self._accumulators.get(ns)
                    if accumulator is None:
                        accumulator = self._accumulators[ns] = MessageAccumulator()
                    for name, data in accumulator.feed(*chunk):
                        self._emitted += 1
                        yield name + suffix, data
            elif mode == "updates" and steps is not None and not ns:
                if "updates" in forward:
                    self._emitted += 1
                    yield "updates", chunk
                if steps.observe(chunk) and wants_progress:
                    self._emitted += 1
                    yield "progress", steps.current
            elif mode in forward:
                self._emitted += 1
                yield _WIRE_NAME.get(mode, mode) + suffix, chunk

    def _delta(self, ns: tuple[str, ...], state: Any) -> list[Op]:
        epoch = self._emitted // self.keyframe_every if self.keyframe_every > 0 else 0
        encoder = self._encoders.get(ns)
        if encoder is None:
            encoder = self._encoders[ns] = DeltaEncoder()
            self._keyframed[ns] = epoch
            return encoder.encode(state)  # the first encode is a keyframe
        if self._keyframed[ns] < epoch:
            self._keyframed[ns] = epoch
            return encoder.keyframe(state)
        return encoder.encode(state)
