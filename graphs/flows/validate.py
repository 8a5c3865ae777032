"""Check a flow document and report every problem at once, each with its JSON path.

``validate_flow(data, components, ...)`` returns a list of
:class:`FlowProblem` (empty: the flow compiles). Paths are JSONPath-style:
``$.edges[3].when``, ``$.nodes[1].config.prompt``. Codes:

=====================  ====================================================
``invalid``            the document's shape (a missing or mistyped field)
``duplicate_id``       two nodes share an id, or a node id is a channel name
``unknown_component``  ``type`` names no registered component
``bad_config``         the component's config schema refuses ``config``
``unknown_channel``    a node writes or a template reads an undeclared channel
``bad_template``       a malformed or unknown ``{{...}}`` placeholder
``dangling_edge``      an edge names a node that does not exist
``duplicate_edge``     the same edge twice
``bad_edge``           an edge that cannot mean anything (START as a target...)
``bad_expression``     a ``when`` that does not compile or reads unknown names
``unreachable``        a node no path from START reaches
``unbounded_loop``     an edge back into a loop without ``max_iterations``
``bad_param``          a param default (or given value) of the wrong type
``bad_channel``        a channel whose reducer or default does not fit its type
=====================  ====================================================

Hostile expressions (attribute access, dunders, calls, imports, huge
powers) are refused by the expression compiler, so they surface here as
``bad_expression`` and never reach a compiled graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from graphs.flows.components.base import FlowScope
from graphs.flows.components.catalog import ComponentCatalog
from graphs.flows.document import END, START, FlowDocument
from graphs.flows.expressions import compile_flow_expression, unknown_names
from graphs.flows.params import FlowParamsError, resolve_params, type_error
from graphs.flows.templates import fill_params, placeholders
from graphs.flows.topology import back_edges, reachable

__all__ = ["FlowInvalid", "FlowProblem", "json_path", "parse_flow", "validate_flow"]

_SAMPLES: dict[str, Any] = {
    "string": "",
    "integer": 0,
    "number": 0,
    "boolean": False,
    "array": [],
    "object": {},
}


@dataclass(frozen=True)
class FlowProblem:
    path: str
    message: str
    code: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message, "code": self.code}


class FlowInvalid(ValueError):
    """A flow that does not validate; ``problems`` lists them all."""

    def __init__(self, problems: Sequence[FlowProblem]) -> None:
        self.problems = list(problems)
        first = self.problems[0] if self.problems else None
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(f"{first.path}: {first.message}{more}" if first else "invalid flow")


def json_path(*parts: str | int) -> str:
    text = "$"
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def parse_flow(data: Any) -> FlowDocument:
    """The document, or ``FlowInvalid`` listing every shape error."""
    try:
        return FlowDocument.model_validate(data)
    except ValidationError as exc:
        raise FlowInvalid(
            [
                FlowProblem(json_path(*error["loc"]), error["msg"], "invalid")
                for error in exc.errors(include_url=False)
            ]
        ) from None


class _Checker:
    def __init__(
        self,
        flow: FlowDocument,
        components: ComponentCatalog,
        graphs: Iterable[str] | None,
        mcp_servers: Iterable[str] | None,
    ) -> None:
        self.flow = flow
        self.components = components
        self.scope = FlowScope(
            channels=flow.state,
            params=frozenset(flow.params),
            graphs=frozenset(graphs) if graphs is not None else None,
            mcp_servers=frozenset(mcp_servers) if mcp_servers is not None else None,
        )
        self.problems: list[FlowProblem] = []

    def add(self, code: str, message: str, *path: str | int) -> None:
        self.problems.append(FlowProblem(json_path(*path), message, code))

    def channels(self) -> None:
        for name, channel in self.flow.state.items():
            reducer = channel.effective_reducer
            if reducer == "append" and channel.type not in ("array", "messages", "any"):
                self.add(
                    "bad_channel",
                    f"append needs an array or messages, not {channel.type}",
                    "state",
                    name,
                    "reducer",
                )
            if reducer == "merge" and channel.type not in ("object", "any"):
                self.add(
                    "bad_channel",
                    f"merge needs an object, not {channel.type}",
                    "state",
                    name,
                    "reducer",
                )
            if channel.default is not None and reducer != "replace":
                self.add(
                    "bad_channel",
                    f"{reducer} channels start empty: default is for replace channels",
                    "state",
                    name,
                    "default",
                )
            error = type_error(channel.default, channel.type)
            if channel.default is not None and reducer == "replace" and error:
                self.add("bad_channel", f"default {error}", "state", name, "default")
            if name in self.flow.params:
                self.add(
                    "duplicate_id",
                    f"{name!r} is both a param and a channel; expressions read both by name",
                    "params",
                    name,
                )

    def params(self, values: Mapping[str, Any] | None) -> dict[str, Any]:
        """Values to check configs with: given or default, else a sample of the type."""
        for name, param in self.flow.params.items():
            if not param.required and (error := type_error(param.default, param.type)):
                self.add("bad_param", f"default {error}", "params", name, "default")
        if values is not None:
            try:
                resolve_params(self.flow, values)
            except FlowParamsError as exc:
                for path, message in exc.problems:
                    self.add("bad_param", message, *path.split("."))
        filled = {}
        for name, param in self.flow.params.items():
            if values is not None and name in values:
                filled[name] = values[name]
            elif not param.required:
                filled[name] = param.default
            else:
                filled[name] = _SAMPLES[param.type]
        return filled

    def nodes(self, params: Mapping[str, Any]) -> None:
        seen: set[str] = set()
        for index, node in enumerate(self.flow.nodes):
            if node.id in seen:
                self.add("duplicate_id", f"node id {node.id!r} is used twice", "nodes", index, "id")
            if node.id in (START, END):
                self.add("duplicate_id", f"{node.id!r} is reserved", "nodes", index, "id")
            if node.id in self.flow.state:
                self.add(
                    "duplicate_id",
                    f"node id {node.id!r} is also a channel name",
                    "nodes",
                    index,
                    "id",
                )
            seen.add(node.id)
            self.templates(index, node.config)
            component = self.components.get(node.type)
            if component is None:
                known = ", ".join(self.components.names())
                self.add(
                    "unknown_component",
                    f"unknown component {node.type!r} (known: {known})",
                    "nodes",
                    index,
                    "type",
                )
                continue
            try:
                config = component.config_model.model_validate(fill_params(node.config, params))
            except ValidationError as exc:
                for error in exc.errors(include_url=False):
                    self.add("bad_config", error["msg"], "nodes", index, "config", *error["loc"])
                continue
            for where, channel in component.writes(config):
                if channel not in self.flow.state:
                    self.add(
                        "unknown_channel",
                        f"writes undeclared channel {channel!r}",
                        "nodes",
                        index,
                        "config",
                        *where,
                    )
            for where, message in component.check(config, self.scope):
                self.add("bad_config", message, "nodes", index, "config", *where)

    def templates(self, index: int, config: Any) -> None:
        for found in placeholders(config):
            path = ("nodes", index, "config", *found.where)
            if found.root == "params" and found.name not in self.flow.params:
                self.add("bad_template", f"{found.text} names no declared param", *path)
            elif found.root == "state" and found.name not in self.flow.state:
                self.add("unknown_channel", f"{found.text} names no declared channel", *path)
            elif found.root not in ("params", "state") or found.name is None:
                self.add(
                    "bad_template",
                    f"{found.text}: use {{{{params.name}}}} or "
                    "{{state.channel}} (paths only, no expressions)",
                    *path,
                )

    def edges(self) -> None:
        ids = {node.id for node in self.flow.nodes}
        known = [*self.flow.params, *self.flow.state]
        seen: set[tuple[tuple[str, ...], str]] = set()
        for index, edge in enumerate(self.flow.edges):
            key = (tuple(edge.sources), edge.target)
            if key in seen and edge.when is None:
                self.add(
                    "duplicate_edge",
                    f"edge {edge.sources} -> {edge.target!r} appears twice",
                    "edges",
                    index,
                )
            seen.add(key)
            for position, source in enumerate(edge.sources):
                where = ("edges", index, "from", *((position,) if edge.is_join else ()))
                if source == END or (source == START and edge.is_join):
                    role = "joined" if edge.is_join else "a source"
                    self.add("bad_edge", f"{source} cannot be {role}", *where)
                elif source != START and source not in ids:
                    self.add("dangling_edge", f"no node {source!r}", *where)
            if edge.target == START:
                self.add("bad_edge", "START cannot be a target", "edges", index, "to")
            elif edge.target != END and edge.target not in ids:
                self.add("dangling_edge", f"no node {edge.target!r}", "edges", index, "to")
            if edge.is_join and len(edge.sources) < 2:
                self.add("bad_edge", "a join lists at least two nodes", "edges", index, "from")
            if edge.source == START and edge.max_iterations is not None:
                self.add(
                    "bad_edge",
                    "no loop can return to START: drop max_iterations",
                    "edges",
                    index,
                    "max_iterations",
                )
            if edge.is_join and edge.is_decision:
                self.add(
                    "bad_edge",
                    "a join waits for all its branches: no when or max_iterations",
                    "edges",
                    index,
                )
            if edge.when is not None:
                try:
                    expression = compile_flow_expression(edge.when)
                except ValueError as exc:
                    self.add("bad_expression", str(exc), "edges", index, "when")
                else:
                    for name in unknown_names(expression, known):
                        self.add(
                            "bad_expression",
                            f"reads {name!r}, which is neither a param nor a channel",
                            "edges",
                            index,
                            "when",
                        )
        self.decision_groups()
        if not any(edge.source == START for edge in self.flow.edges):
            self.add("bad_edge", "no edge from START: where does the flow begin?", "edges")

    def decision_groups(self) -> None:
        """A decision's edges are tried in order: a plain edge (the default) must come last."""
        by_source: dict[str, list[int]] = {}
        for index, edge in enumerate(self.flow.edges):
            if not edge.is_join:
                by_source.setdefault(edge.sources[0], []).append(index)
        for indexes in by_source.values():
            edges = [self.flow.edges[i] for i in indexes]
            if not any(edge.is_decision for edge in edges):
                continue
            for position, index in enumerate(indexes[:-1]):
                if not edges[position].is_decision:
                    self.add(
                        "bad_edge",
                        "a plain edge among conditional ones is the default: it "
                        "must be the last edge from its node",
                        "edges",
                        index,
                    )

    def graph_shape(self) -> None:
        edges = [(e.sources, e.target) for e in self.flow.edges]
        reached = reachable(edges)
        for index, node in enumerate(self.flow.nodes):
            if node.id not in reached:
                self.add("unreachable", f"no path from START reaches {node.id!r}", "nodes", index)
        for index in back_edges(edges):
            edge = self.flow.edges[index]
            if edge.max_iterations is None:
                self.add(
                    "unbounded_loop",
                    f"edge {edge.sources[0]!r} -> {edge.target!r} closes a "
                    "loop: give it max_iterations",
                    "edges",
                    index,
                )


def validate_flow(
    data: Any,
    components: ComponentCatalog,
    *,
    graphs: Iterable[str] | None = None,
    mcp_servers: Iterable[str] | None = None,
    params: Mapping[str, Any] | None = None,
) -> list[FlowProblem]:
    """Every problem of ``data`` (a document or its plain data); empty when it compiles.

    ``graphs`` and ``mcp_servers`` are what subgraph and MCP nodes may name
    (None: not checked); ``params`` are values to check as a compile would.
    """
    try:
        flow = data if isinstance(data, FlowDocument) else parse_flow(data)
    except FlowInvalid as exc:
        return exc.problems
    checker = _Checker(flow, components, graphs, mcp_servers)
    checker.channels()
    filled = checker.params(params)
    checker.nodes(filled)
    checker.edges()
    checker.graph_shape()
    return checker.problems
