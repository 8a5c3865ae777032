"""What a compiled graph says about itself: its drawing, its schemas, its subgraphs.

Shared by ``GET /assistants/{id}/graph``, ``/schemas`` and ``/subgraphs``.
"""

from __future__ import annotations

from typing import Any

from langgraph.pregel import Pregel
from starlette.requests import Request

from app.errors import InvalidInput
from app.runs.snapshots import json_schema
from graphs.schemas import input_jsonschema, output_jsonschema, state_jsonschema

__all__ = ["drawing", "schemas", "subgraph_schemas", "xray_param"]

Graph = Pregel[Any, Any, Any, Any]


def xray_param(request: Request) -> bool | int:
    """``?xray=`` as LangGraph takes it: a boolean, or the subgraph depth to draw."""
    value = request.query_params.get("xray")
    if value is None:
        return False
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if value.isdigit():
        return int(value)
    raise InvalidInput(f"query parameter 'xray' must be true, false or a depth >= 0, not {value!r}")


async def drawing(graph: Graph, xray: bool | int) -> dict[str, Any]:
    drawable = await graph.aget_graph(xray=xray)
    return drawable.to_json()


def schemas(graph: Graph) -> dict[str, Any]:
    """Input, output, state, config and context schemas (``{}`` where none can be made)."""
    return {
        "input_schema": input_jsonschema(graph),
        "output_schema": output_jsonschema(graph),
        "state_schema": state_jsonschema(graph),
        "config_schema": json_schema(graph.get_config_jsonschema),
        "context_schema": json_schema(graph.get_context_jsonschema),
    }


async def subgraph_schemas(
    graph: Graph, *, namespace: str | None, recurse: bool
) -> dict[str, dict[str, Any]]:
    """``{namespace: schemas}`` of the graph's subgraphs (``a|b`` when nested)."""
    found: dict[str, dict[str, Any]] = {}
    async for name, subgraph in graph.aget_subgraphs(namespace=namespace, recurse=recurse):
        assert isinstance(subgraph, Pregel)  # a compiled graph's subgraphs are compiled
        found[name] = schemas(subgraph)
    return found
