"""Steps that hand over to something else: ``subgraph``, ``router`` and ``interrupt``.

* ``subgraph`` runs any registered graph or flow (the registry's compiled
  subgraph, without a checkpointer, so it shares the flow's). It is awaited
  inside the node with the node's config, so LangGraph treats it as a
  subgraph: its events carry the ``<node>:<task>`` namespace and an
  ``interrupt()`` inside it suspends and resumes the whole flow.
* ``router`` asks the server's hybrid router where a request should go and
  writes the decision (the ``route`` record) to a channel; the ``route``
  custom event streams as from the ``auto`` graph. Edges decide from there.
* ``interrupt`` stops for a human: the client sees ``value`` and resumes
  with ``Command(resume=...)``; the answer is written to ``write``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from langchain_core.messages import HumanMessage, convert_to_messages
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.pregel import Pregel
from langgraph.types import interrupt
from pydantic import BaseModel, ConfigDict, Field

from graphs.flows.components.base import (
    Component,
    FlowScope,
    NodeContext,
    NodeFunction,
    Problem,
)
from graphs.flows.document import Channel
from graphs.flows.templates import render
from routers.base import Router, RouteRequest

__all__ = [
    "InterruptComponent",
    "InterruptConfig",
    "RouterComponent",
    "RouterConfig",
    "SubgraphComponent",
    "SubgraphConfig",
]


class SubgraphSource(Protocol):
    async def get_subgraph(self, graph_id: str) -> Pregel[Any, Any, Any, Any]: ...


class SubgraphConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    graph: str = Field(description="A registered graph id or flow id.")
    input: dict[str, Any] | None = Field(
        None, description="The subgraph's input (templates). Default: the whole flow state."
    )
    output: dict[str, str] | None = Field(
        None,
        description="flow channel -> subgraph key. Default: every returned key that is a "
        "flow channel (append channels get only the items the subgraph added).",
    )


def _added(before: Any, after: Any) -> Any:
    """For an append channel: what the subgraph appended to what it was given."""
    if isinstance(before, list) and isinstance(after, list) and after[: len(before)] == before:
        return after[len(before) :]
    return after


def _output(
    result: dict[str, Any],
    given: dict[str, Any],
    channels: dict[str, Channel],
    mapping: dict[str, str] | None,
) -> dict[str, Any]:
    if mapping is not None:
        return {channel: result.get(key) for channel, key in mapping.items() if key in result}
    update = {}
    for key, value in result.items():
        if (channel := channels.get(key)) is None:
            continue
        appends = channel.effective_reducer == "append"
        update[key] = _added(given.get(key), value) if appends else value
    return update


class SubgraphComponent(Component):
    name = "subgraph"
    description = "Runs a registered graph or flow as a subgraph (namespaced events, interrupts)."
    config_model = SubgraphConfig

    def writes(self, config: BaseModel) -> Iterable[tuple[tuple[str | int, ...], str]]:
        assert isinstance(config, SubgraphConfig)
        return ((("output", key), key) for key in config.output or {})

    def check(self, config: BaseModel, scope: FlowScope) -> Iterable[Problem]:
        assert isinstance(config, SubgraphConfig)
        if scope.graphs is not None and config.graph not in scope.graphs:
            known = ", ".join(sorted(scope.graphs)) or "none"
            yield (("graph",), f"unknown graph {config.graph!r} (known: {known})")

    async def build(self, config: BaseModel, context: NodeContext) -> NodeFunction:
        assert isinstance(config, SubgraphConfig)
        source: SubgraphSource = context.require("registry")
        graph = await source.get_subgraph(config.graph)
        channels = dict(context.channels)

        async def run(state: dict[str, Any], run_config: RunnableConfig) -> dict[str, Any]:
            given = render(config.input, state) if config.input is not None else dict(state)
            result = await graph.ainvoke(given, run_config)
            if not isinstance(result, dict):
                return {}
            return _output(result, given, channels, config.output)

        return run


class RouterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(
        None, description="What to route (template). Default: the last human message."
    )
    context: dict[str, Any] = Field(
        default_factory=dict, description="Extra context rules see (templates)."
    )
    strategy: str | None = Field(None, description="Overrides the router's strategy.")
    write: str = Field("route", description="The channel that receives the decision record.")


def _last_human(state: dict[str, Any]) -> str:
    messages = convert_to_messages(state.get("messages") or [])
    return next((m.text for m in reversed(messages) if isinstance(m, HumanMessage)), "")


class RouterComponent(Component):
    name = "router"
    description = "Asks the hybrid router where a request goes; writes the decision record."
    config_model = RouterConfig

    def writes(self, config: BaseModel) -> Iterable[tuple[tuple[str | int, ...], str]]:
        assert isinstance(config, RouterConfig)
        return [(("write",), config.write)]

    async def build(self, config: BaseModel, context: NodeContext) -> NodeFunction:
        assert isinstance(config, RouterConfig)
        router: Router = context.require("router")

        async def run(state: dict[str, Any], run_config: RunnableConfig) -> dict[str, Any]:
            if config.text is not None:
                text = str(render(config.text, state))
            else:
                text = _last_human(state)
            request = RouteRequest(text=text, context=render(config.context, state))
            decision = await router.route(request, strategy=config.strategy)
            get_stream_writer()(decision.to_event())
            return {config.write: decision.model_dump(mode="json")}

        return run


class InterruptConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: Any = Field(None, description="What the client is shown (templates filled).")
    write: str | None = Field(None, description="The channel that receives the resume value.")


class InterruptComponent(Component):
    name = "interrupt"
    description = "Stops for a human (interrupt); the resume value is written to a channel."
    config_model = InterruptConfig

    def writes(self, config: BaseModel) -> Iterable[tuple[tuple[str | int, ...], str]]:
        assert isinstance(config, InterruptConfig)
        return [(("write",), config.write)] if config.write else []

    async def build(self, config: BaseModel, context: NodeContext) -> NodeFunction:
        assert isinstance(config, InterruptConfig)

        async def run(state: dict[str, Any], run_config: RunnableConfig) -> dict[str, Any]:
            answer = interrupt(render(config.value, state))
            return {config.write: answer} if config.write else {}

        return run
