"""Flow document (+ param values) -> LangGraph ``StateGraph`` builder.

``build_flow`` validates, fills params, builds each node's component once,
and wires edges; the registry compiles the builder once per (flow, version,
params). Nothing here runs per request except the node functions.

How the document maps onto LangGraph:

* channels: ``replace`` is last-write-wins (a reducer, so parallel branches
  may both write), ``append`` concatenates (``add_messages`` for messages:
  ids dedupe), ``merge`` updates a dict. Append and merge channels start
  empty; a replace channel is unset until written, and nodes see its
  ``default`` meanwhile. Input and output schemas are the declared channels.
* plain edges are ``add_edge``; several from one node fan out; a join
  (``from: [a, b]``) is ``add_edge([a, b], target)``, which waits for both.
* a node whose edges decide (``when`` / ``max_iterations``) returns
  ``Command(goto=...)``: after its own update is applied, the first edge
  whose ``when`` holds and whose loop budget is left wins; none -> END.
  Edges from START decide with a plain path function (no loop can reach START).
* loop budgets: a hidden channel counts, per decision edge, how many times
  in a row it was taken; taking another edge from that node resets it, so
  each entry into a loop gets its full ``max_iterations``. The counter is
  state, so it survives interrupts and resumes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END as LG_END
from langgraph.graph import START as LG_START
from langgraph.graph import StateGraph
from langgraph.graph.message import add_messages
from langgraph.pregel import Pregel
from langgraph.types import Command

# typing_extensions' TypedDict: pydantic (input/output JSON Schemas) needs it before 3.12.
from typing_extensions import TypedDict

from graphs.flows.components.base import NodeContext, NodeFunction
from graphs.flows.components.catalog import ComponentCatalog
from graphs.flows.document import END, START, Channel, Edge, FlowDocument
from graphs.flows.expressions import Expression, compile_flow_expression, scope
from graphs.flows.params import resolve_params
from graphs.flows.templates import fill_params
from graphs.flows.validate import FlowInvalid, validate_flow

__all__ = ["LOOPS_CHANNEL", "FlowRuntimeError", "build_flow", "compile_flow"]

LOOPS_CHANNEL = "__flow_loops__"

_PY_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": list[Any],
    "object": dict[str, Any],
    "messages": list[AnyMessage],
    "any": Any,
}


class FlowRuntimeError(RuntimeError):
    """A flow failed in a way its document explains (a condition that cannot be evaluated)."""


def _replace(_old: Any, new: Any) -> Any:
    return new


def _append(old: Any, new: Any) -> list[Any]:
    return [*(old or []), *(new if isinstance(new, list) else [new])]


def _merge(old: Any, new: Any) -> dict[str, Any]:
    return {**(old or {}), **(new or {})}


def _reducer(channel: Channel) -> Any:
    reducer = channel.effective_reducer
    if channel.type == "messages":
        return add_messages if reducer == "append" else _replace
    return {"replace": _replace, "append": _append, "merge": _merge}[reducer]


def _state_types(flow: FlowDocument) -> tuple[type, type]:
    """(state schema with reducers and the hidden loop counters, input/output schema)."""
    state: dict[str, Any] = {}
    public: dict[str, Any] = {}
    for name, channel in flow.state.items():
        reducer = channel.effective_reducer
        # Append/merge channels start empty (list/dict); replace ones unset (Any).
        base = list[Any] if reducer == "append" else dict[str, Any] if reducer == "merge" else Any
        if channel.type == "messages":
            base = list[AnyMessage]
        state[name] = Annotated[base, _reducer(channel)]
        public[name] = _PY_TYPES[channel.type]
    state[LOOPS_CHANNEL] = Annotated[dict[str, int], _merge]
    title = "".join(part.title() for part in flow.id.replace("-", "_").split("_"))
    state_type = TypedDict(f"{title}State", state, total=False)  # type: ignore[misc]
    public_type = TypedDict(f"{title}Input", public, total=False)  # type: ignore[misc]
    return state_type, public_type


def _view(state: Mapping[str, Any], channels: Mapping[str, Channel]) -> dict[str, Any]:
    """Every declared channel; unset ones at their default."""
    return {
        name: state[name] if state.get(name) is not None else channel.default
        for name, channel in channels.items()
    }


def _applied(
    view: dict[str, Any], update: Mapping[str, Any], channels: Mapping[str, Channel]
) -> dict[str, Any]:
    """The state a decision sees: ``view`` with the node's own update reduced in."""
    after = dict(view)
    for key, value in update.items():
        after[key] = _reducer(channels[key])(view.get(key), value)
    return after


class _Decision:
    """The ordered edges out of one node, evaluated after the node's update."""

    def __init__(self, source: str, edges: list[Edge], params: Mapping[str, Any]) -> None:
        self.source = source
        self.edges = edges
        self.params = dict(params)
        self.conditions: list[Expression | None] = [
            compile_flow_expression(e.when) if e.when is not None else None for e in edges
        ]

    def key(self, edge: Edge) -> str:
        return f"{self.source}>{edge.target}"

    def targets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(_lg(edge.target) for edge in self.edges))

    def choose(self, after: dict[str, Any], loops: Mapping[str, int]) -> tuple[str, dict[str, int]]:
        names = scope(after, self.params)
        counters = {self.key(e): 0 for e in self.edges if e.max_iterations is not None}
        for edge, condition in zip(self.edges, self.conditions, strict=True):
            if condition is not None:
                try:
                    holds = bool(condition.evaluate(names))
                except Exception as exc:
                    raise FlowRuntimeError(
                        f"condition {edge.when!r} on edge {self.source} -> {edge.target} "
                        f"failed: {exc}"
                    ) from exc
                if not holds:
                    continue
            if edge.max_iterations is not None:
                taken = loops.get(self.key(edge), 0)
                if taken >= edge.max_iterations:
                    continue  # budget spent: as if the condition were false
                counters[self.key(edge)] = taken + 1
            return _lg(edge.target), counters
        return LG_END, counters


def _lg(name: str) -> str:
    return {START: LG_START, END: LG_END}.get(name, name)


def _node(
    node_id: str, run: NodeFunction, channels: Mapping[str, Channel], decision: _Decision | None
) -> Any:
    async def step(state: dict[str, Any], config: RunnableConfig) -> Any:
        view = _view(state, channels)
        update = dict(await run(view, config))
        unknown = sorted(set(update) - set(channels))
        if unknown:
            raise FlowRuntimeError(f"node {node_id!r} wrote undeclared channels {unknown}")
        if decision is None:
            return update
        loops = state.get(LOOPS_CHANNEL) or {}
        target, counters = decision.choose(_applied(view, update, channels), loops)
        if counters:
            update[LOOPS_CHANNEL] = counters
        return Command(update=update, goto=target)

    step.__name__ = node_id
    return step


async def build_flow(
    flow: FlowDocument,
    params: Mapping[str, Any] | None,
    *,
    components: ComponentCatalog,
    deps: Mapping[str, Any],
) -> StateGraph[Any, Any, Any, Any]:
    """The flow's builder for these param values. Raises ``FlowInvalid``,
    ``FlowParamsError`` or ``ComponentError`` (all name what to fix)."""
    resolved = resolve_params(flow, params)
    problems = validate_flow(flow, components, params=resolved)
    if problems:
        raise FlowInvalid(problems)
    state_type, public_type = _state_types(flow)
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(
        state_type, input_schema=public_type, output_schema=public_type
    )
    plain: dict[str, list[Edge]] = {}
    for edge in flow.edges:
        if not edge.is_join:
            plain.setdefault(edge.sources[0], []).append(edge)
    for node in flow.nodes:
        component = components.get(node.type)
        assert component is not None  # validated above
        config = component.config_model.model_validate(fill_params(node.config, resolved))
        context = NodeContext(flow.id, node.id, flow.state, resolved, deps)
        run = await component.build(config, context)
        edges = plain.get(node.id, [])
        decides = any(e.is_decision for e in edges)
        decision = _Decision(node.id, edges, resolved) if decides else None
        builder.add_node(
            node.id,
            _node(node.id, run, flow.state, decision),
            destinations=decision.targets() if decision is not None else None,
            metadata={"component": node.type},
        )
    for source, edges in plain.items():
        if any(e.is_decision for e in edges):
            if source == START:
                decision = _Decision(START, edges, resolved)

                def route(state: dict[str, Any], decision: _Decision = decision) -> str:
                    return decision.choose(_view(state, flow.state), {})[0]

                builder.add_conditional_edges(LG_START, route, list(decision.targets()))
            continue  # the node's Command decides
        for edge in edges:
            builder.add_edge(_lg(source), _lg(edge.target))
    for edge in flow.edges:
        if edge.is_join:
            builder.add_edge(edge.sources, _lg(edge.target))
    return builder


def compile_flow(
    builder: StateGraph[Any, Any, Any, Any], flow_id: str
) -> Pregel[Any, Any, Any, Any]:
    """Compile a flow's builder; the loop counters stay out of every stream and state read.

    LangGraph streams (``values``, ``updates``) and ``get_state`` show all
    channels; the counters are bookkeeping, so the compiled graph streams the
    declared channels only (they are still checkpointed).
    """
    graph = builder.compile(name=flow_id)
    visible = [name for name in builder.channels if name != LOOPS_CHANNEL]
    return graph.copy(update={"stream_channels": visible})
