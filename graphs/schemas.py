"""A compiled graph's JSON schemas, also for state classes pydantic cannot read.

LangGraph derives a graph's input/output schema from its state class: a
pydantic model's own schema, ``TypeAdapter(cls)`` for a TypedDict, and for
anything else a pydantic model built from the graph's channels (each
channel's update type; a key is optional when the class says so). On Python
3.11 a ``typing.TypedDict`` (the usual tutorial style) trips pydantic
("use typing_extensions.TypedDict"), so ``get_input_jsonschema`` raises for a
graph that runs fine. Here such a class takes LangGraph's third path: the
schema is built from the channels, which exist for every graph, so its keys
are always known and input checking keeps working.

``schema_keys(schema)`` is what the run engine checks input keys against.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from langgraph.channels.base import BaseChannel
from langgraph.pregel import Pregel
from pydantic import BaseModel, TypeAdapter, create_model

__all__ = ["input_jsonschema", "output_jsonschema", "schema_keys", "state_jsonschema"]

log = logging.getLogger(__name__)

Graph = Pregel[Any, Any, Any, Any]


def input_jsonschema(graph: Graph) -> dict[str, Any] | None:
    """What the graph takes as input; None only for graphs without channels."""
    return _derive(graph, graph.get_input_jsonschema, "input_schema", "Input")


def output_jsonschema(graph: Graph) -> dict[str, Any] | None:
    return _derive(graph, graph.get_output_jsonschema, "output_schema", "Output")


def state_jsonschema(graph: Graph) -> dict[str, Any] | None:
    builder = getattr(graph, "builder", None)
    state = getattr(builder, "state_schema", None)
    if state is None:
        return {}
    return _derive(graph, lambda: TypeAdapter(state).json_schema(), "state_schema", "State")


def schema_keys(schema: dict[str, Any] | None) -> frozenset[str] | None:
    """The top-level property names of an object schema, or None if it has none."""
    props = (schema or {}).get("properties")
    return frozenset(props) if isinstance(props, dict) else None


def _derive(
    graph: Graph, method: Callable[[], dict[str, Any]], attr: str, suffix: str
) -> dict[str, Any] | None:
    try:
        return method()
    except Exception as exc:  # pydantic cannot read the class; the channels still say it all
        log.debug("%s of %s from its channels: %s", attr, graph.get_name(), exc)
    builder = getattr(graph, "builder", None)
    cls = getattr(builder, attr, None)
    channel_names = getattr(builder, "schemas", {}).get(cls) if cls is not None else None
    if channel_names is None:
        return None
    channels: dict[str, Any] = getattr(builder, "channels", {})
    name = graph.get_name(suffix)
    names = [k for k in channel_names if isinstance(channels.get(k), BaseChannel)]
    optional: frozenset[str] = getattr(cls, "__optional_keys__", frozenset())
    try:
        fields: dict[str, Any] = {
            k: (channels[k].UpdateType, None if k in optional else ...) for k in names
        }
        model: type[BaseModel] = create_model(name, **fields)
        return model.model_json_schema()
    except Exception as exc:  # a field type pydantic cannot read either: keys, any values
        log.debug("%s of %s as bare keys: %s", attr, name, exc)
        return {"title": name, "type": "object", "properties": {k: {} for k in names}}
