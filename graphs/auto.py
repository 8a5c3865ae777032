"""Auto: the router picks which registered graph answers, and that graph runs as a subgraph.

Shape::

    START -> route --Command(goto=<graph id>)--> <graph id> (a compiled subgraph) -> END

``route`` asks the router about the last human message and, before handing
off, writes the decision to the ``custom`` stream (``decision.to_event()``,
the API's ``{"type": "route", ...}`` event). Since the subgraph only runs in
the next step, the route event always precedes the subgraph's first event;
with ``subgraphs=True`` the subgraph's events carry the ``<graph id>:<task
id>`` namespace. The decision is kept in state: ``route`` is the latest one,
``routes`` the history, one per turn.

Every other registered graph that loads is a node (one that fails to load
is the registry's to report, and ``auto`` routes among the others), added as the registry's compiled
subgraph (compiled once per process, without its own checkpointer so it
shares the parent's); nothing is compiled per run. The subgraph receives the
state keys it shares with ``AutoState`` (always ``messages``) and hands
back the same, so the conversation continues across turns and graphs.

The decision's ``params`` (e.g. ``{"channel": "twitter"}`` from a rule's
regex) reach the chosen graph: those named like one of its input keys are
added to its input (a ``Send`` with the shared keys plus them), so
``content`` publishes to the channel the request named.

What rules see: ``route_context`` from the input, merged over the run's
``context`` (when it is a mapping), plus ``previous_target`` (last turn's
target). ``config["configurable"]["route_strategy"]`` overrides the
router's strategy for one run.
"""

from __future__ import annotations

import operator
from collections.abc import Collection, Sequence
from typing import Annotated, Any, NotRequired, Protocol

from langchain_core.messages import AnyMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.pregel import Pregel
from langgraph.runtime import get_runtime
from langgraph.types import Command, Send

from graphs.loader import GraphLoadError
from routers.base import Router, RouteRequest, Turn

__all__ = ["AutoState", "SubgraphSource", "build_auto"]

ROUTE_NODE = "route"
HISTORY_MESSAGES = 5


class AutoState(MessagesState):
    """The conversation, plus why each turn went where it did."""

    route_context: NotRequired[dict[str, Any]]
    route: NotRequired[dict[str, Any]]
    routes: NotRequired[Annotated[list[dict[str, Any]], operator.add]]


class SubgraphSource(Protocol):
    """What ``build_auto`` needs of the registry (``graphs.registry.GraphRegistry``)."""

    def routable_ids(self) -> list[str]: ...

    async def get_subgraph(self, graph_id: str) -> Pregel[Any, Any, Any, Any]: ...


def _request(state: AutoState, run_context: object) -> RouteRequest:
    messages: Sequence[AnyMessage] = state.get("messages", [])
    text = next((m.text for m in reversed(messages) if isinstance(m, HumanMessage)), "")
    context: dict[str, Any] = dict(run_context) if isinstance(run_context, dict) else {}
    context.update(state.get("route_context") or {})
    if (previous := state.get("route")) is not None:
        context.setdefault("previous_target", previous.get("target"))
    tags = context.get("tags")
    return RouteRequest(
        text=text,
        messages=[Turn(role=m.type, content=m.text) for m in messages[-HISTORY_MESSAGES:]],
        context=context,
        tags=[str(t) for t in tags] if isinstance(tags, list) else [],
    )


def _input_keys(graph: Pregel[Any, Any, Any, Any]) -> frozenset[str]:
    """The keys a compiled graph takes as input (its input schema's channels)."""
    builder = getattr(graph, "builder", None)
    schema = getattr(builder, "input_schema", None)
    channels = getattr(builder, "schemas", {}).get(schema, {}) if schema is not None else {}
    return frozenset(channels)


async def build_auto(
    registry: SubgraphSource, router: Router, exclude: Collection[str] = ("auto",)
) -> StateGraph[AutoState, Any, AutoState, AutoState]:
    """The auto graph over every graph of ``registry`` except ``exclude`` (itself)."""
    targets = [gid for gid in registry.routable_ids() if gid not in exclude]
    if not targets:
        raise ValueError("auto needs at least one other registered graph to route to")
    if ROUTE_NODE in targets:
        raise ValueError(f"a graph id {ROUTE_NODE!r} clashes with auto's own router node")
    subgraphs = {}
    for gid in targets:
        try:
            subgraphs[gid] = await registry.get_subgraph(gid)
        except GraphLoadError:  # reported by the registry (startup stops, or it is skipped)
            continue
    if not subgraphs:
        raise ValueError("auto needs at least one other graph that loads to route to")
    inputs = {gid: _input_keys(graph) for gid, graph in subgraphs.items()}

    async def route(state: AutoState, config: RunnableConfig) -> Command[str]:
        strategy = (config.get("configurable") or {}).get("route_strategy")
        # The run's context (the API's `context` field), whatever its schema.
        run_context = get_runtime().context
        decision = await router.route(_request(state, run_context), strategy=strategy)
        if decision.target not in subgraphs:
            raise ValueError(
                f"router chose {decision.target!r}, which is not a graph auto can run "
                f"(one of: {', '.join(subgraphs)})"
            )
        # Written before the hand-off, so it precedes every event of the subgraph.
        get_stream_writer()(decision.to_event())
        record = decision.model_dump(mode="json")
        update = {"route": record, "routes": [record]}
        params = {k: v for k, v in decision.params.items() if k in inputs[decision.target]}
        if not params:
            return Command(goto=decision.target, update=update)
        shared = {k: v for k, v in state.items() if k in inputs[decision.target]}
        return Command(goto=Send(decision.target, {**shared, **params}), update=update)

    builder = StateGraph(AutoState)
    builder.add_node(ROUTE_NODE, route, destinations=tuple(subgraphs))
    for graph_id, subgraph in subgraphs.items():
        builder.add_node(graph_id, subgraph)
        builder.add_edge(graph_id, END)
    builder.add_edge(START, ROUTE_NODE)
    return builder
