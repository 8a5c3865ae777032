"""The flow document: a graph described as data, in JSON or YAML.

One pydantic model, :class:`FlowDocument`, is the whole format; its JSON
Schema is published as ``docs/flow.schema.json`` (``python -m
graphs.flows.document`` writes it). A small example::

    id: review
    description: Drafts an answer, asks a human, then publishes.
    examples: [draft me an answer I can review]   # for the router's semantic tier
    params:
      max_drafts: {type: integer, default: 3}
    state:
      messages: {type: messages}
      drafts: {type: integer, default: 0}
      approved: {type: boolean, default: false}
    nodes:
      - {id: draft, type: llm, config: {prompt: "Answer: {{state.question}}"}}
      - {id: count, type: transform, config: {compute: {drafts: "drafts + 1"}}}
      - {id: ask, type: interrupt, config: {value: "Publish?", write: approved}}
    edges:
      - {from: START, to: draft}
      - {from: draft, to: count}
      - {from: count, to: draft, when: "drafts < max_drafts", max_iterations: 5}
      - {from: count, to: ask}
      - {from: ask, to: END}

Semantics, in short (``graphs/flows/compiler.py`` has the details):

* ``state`` declares the channels; each has a ``type``, a ``reducer``
  (``replace``, ``append`` for arrays and messages, ``merge`` for objects)
  and a ``default`` that readers see while the channel is unset.
* ``params`` make a flow a template: ``{{params.name}}`` anywhere in a node's
  ``config`` is replaced when the flow is compiled for a set of values, and
  conditions read params by name.
* Edges from a node are either all plain (every target runs: a parallel
  fan-out) or a *decision*: as soon as one edge has ``when`` or
  ``max_iterations``, the first edge whose condition holds and whose loop
  budget is left is taken, and only that one (no match ends the branch).
* An edge whose ``from`` is a list is a join: its target runs once every
  listed node has finished.
* An edge back to a node already on the path (a loop) must say
  ``max_iterations``: how many times in a row it may be taken.

The model only checks shapes; everything that needs the whole document
(dangling edges, unreachable nodes, unknown components, expressions) is
checked by ``graphs.flows.validate``, which reports every problem at once.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "END",
    "SCHEMA_PATH",
    "START",
    "Channel",
    "ChannelType",
    "Edge",
    "FlowDocument",
    "FlowNode",
    "Param",
    "ParamType",
    "Reducer",
    "flow_json_schema",
    "flow_schema_text",
    "parse_flow_text",
]

START = "START"
END = "END"
# Ids become LangGraph node names and graph ids: plain names only, so they
# are safe in URLs, namespaces (``node:task``) and file names.
ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "flow.schema.json"

ChannelType = Literal[
    "string", "integer", "number", "boolean", "array", "object", "messages", "any"
]
ParamType = Literal["string", "integer", "number", "boolean", "array", "object"]
Reducer = Literal["replace", "append", "merge"]


class Channel(BaseModel):
    """One state channel: what it holds and how concurrent or repeated writes combine."""

    model_config = ConfigDict(extra="forbid")

    type: ChannelType = "any"
    reducer: Reducer | None = Field(
        None,
        description="replace (last write wins), append (arrays, messages) or merge (objects). "
        "Default: append for messages, replace otherwise.",
    )
    default: Any = Field(None, description="What readers see while the channel is unset.")
    description: str | None = None

    @property
    def effective_reducer(self) -> Reducer:
        if self.reducer is not None:
            return self.reducer
        return "append" if self.type == "messages" else "replace"


class Param(BaseModel):
    """A template parameter. Without ``default`` it must be given for each compile."""

    model_config = ConfigDict(extra="forbid")

    type: ParamType
    default: Any = Field(None, description="Used when no value is given; absent: required.")
    description: str | None = None

    @property
    def required(self) -> bool:
        return "default" not in self.model_fields_set


class FlowNode(BaseModel):
    """A step: a component (``type``) with its ``config``."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    type: str = Field(description="A component name, as listed by GET /components.")
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="The component's config; strings may hold {{params.x}} and {{state.x}}.",
    )
    description: str | None = None


class Edge(BaseModel):
    """From one node (or, for a join, several) to another."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str | list[str] = Field(
        alias="from", description="A node id, START, or a list of node ids to join."
    )
    target: str = Field(alias="to", description="A node id or END.")
    when: str | None = Field(
        None, description="A safe expression over state channels and params; no calls."
    )
    max_iterations: int | None = Field(
        None, ge=1, description="Required on an edge back into a loop: times it may be taken."
    )

    @property
    def sources(self) -> list[str]:
        return list(self.source) if isinstance(self.source, list) else [self.source]

    @property
    def is_join(self) -> bool:
        return isinstance(self.source, list)

    @property
    def is_decision(self) -> bool:
        return self.when is not None or self.max_iterations is not None


class FlowDocument(BaseModel):
    """A declarative flow: state channels, template params, nodes and edges."""

    model_config = ConfigDict(extra="forbid", title="Switchyard flow")

    id: str = Field(pattern=ID_PATTERN, description="The flow's graph id (and assistant name).")
    description: str = Field("", description="Shown to the router and in /assistants.")
    examples: list[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    ] = Field(
        default_factory=list,
        max_length=200,
        description="Requests that belong here: the router's semantic tier sends similar ones "
        "to this flow (like the 'examples:' of a rules file).",
    )
    state: dict[str, Channel] = Field(default_factory=dict)
    params: dict[str, Param] = Field(default_factory=dict)
    nodes: list[FlowNode] = Field(default_factory=list)
    edges: list[Edge] = Field(default_factory=list)

    def node(self, node_id: str) -> FlowNode | None:
        return next((n for n in self.nodes if n.id == node_id), None)

    def to_json(self) -> dict[str, Any]:
        """The document as written back out (``from``/``to``, unset fields left out)."""
        dumped: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude_unset=True)
        return dumped


def parse_flow_text(text: str) -> Any:
    """JSON or YAML text to plain data (YAML is a superset of JSON); ``ValueError`` if neither."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"not valid JSON or YAML: {exc}") from exc


def flow_json_schema() -> dict[str, Any]:
    """The JSON Schema of a flow document, as published in ``docs/flow.schema.json``."""
    schema = FlowDocument.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def flow_schema_text() -> str:
    """``flow_json_schema()`` as the published file's text (stable key order)."""
    return json.dumps(flow_json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":  # pragma: no cover - a maintenance command
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_PATH
    target.write_text(flow_schema_text(), encoding="utf-8")
    print(f"wrote {target}")
