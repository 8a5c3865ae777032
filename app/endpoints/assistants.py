"""Assistants: one per registered graph (read-only)."""

from __future__ import annotations

from typing import Any

from langgraph.pregel import Pregel
from pydantic import TypeAdapter
from starlette.requests import Request
from starlette.responses import Response

from app.auth.access import authorize
from app.endpoints.http import JSONResponse, parse_body, query_bool
from app.endpoints.select import pick
from app.errors import AssistantNotFound
from app.runs.snapshots import json_schema
from app.schemas import AssistantCount, AssistantSearch
from app.services import services_of
from app.store.filters import matches


def _matches(record: dict[str, Any], body: AssistantSearch | AssistantCount) -> bool:
    if body.graph_id and record["graph_id"] != body.graph_id:
        return False
    if body.name and body.name.lower() not in record["name"].lower():
        return False
    return all(record["metadata"].get(k) == v for k, v in (body.metadata or {}).items())


async def _visible(request: Request, body: AssistantSearch | AssistantCount) -> list[Any]:
    value: dict[str, Any] = body.model_dump(exclude_none=True, exclude={"select"})
    filters = await authorize(request, "assistants", "search", value)
    return [
        record
        for record in services_of(request).assistants.all()
        if _matches(record, body) and matches(record["metadata"], filters)
    ]


async def search(request: Request) -> Response:
    body = await parse_body(request, AssistantSearch, empty_ok=True)
    found = await _visible(request, body)
    if body.sort_by is not None:
        # Stable: assistants that tie (all share created_at) keep config order.
        key = body.sort_by
        found.sort(key=lambda record: record[key], reverse=body.sort_order == "desc")
    elif body.sort_order == "desc":
        found.reverse()
    page = found[body.offset : body.offset + body.limit]
    return JSONResponse([pick(record, body.select) for record in page])


async def count(request: Request) -> Response:
    body = await parse_body(request, AssistantCount, empty_ok=True)
    return JSONResponse(len(await _visible(request, body)))


async def _record(request: Request) -> tuple[str, dict[str, Any]]:
    """The path's assistant, if ``assistants.read`` lets the user see it."""
    services = services_of(request)
    assistant_id = request.path_params["assistant_id"]
    graph_id, resolved_id = services.assistants.resolve(assistant_id)
    filters = await authorize(request, "assistants", "read", {"assistant_id": resolved_id})
    record: dict[str, Any] = services.assistants.record(graph_id)
    if not matches(record["metadata"], filters):
        raise AssistantNotFound(f"assistant {assistant_id!r} not found")
    return graph_id, record


async def _graph(request: Request) -> tuple[str, Pregel[Any, Any, Any, Any]]:
    graph_id, _ = await _record(request)
    return graph_id, await services_of(request).registry.get(graph_id)


async def get(request: Request) -> Response:
    _, record = await _record(request)
    return JSONResponse(record)


async def graph(request: Request) -> Response:
    _, compiled = await _graph(request)
    xray = query_bool(request, "xray")
    drawable = await compiled.aget_graph(xray=xray)
    return JSONResponse(drawable.to_json())


async def schemas(request: Request) -> Response:
    graph_id, compiled = await _graph(request)
    builder = getattr(compiled, "builder", None)
    state_schema = getattr(builder, "state_schema", None)
    return JSONResponse(
        {
            "graph_id": graph_id,
            "input_schema": json_schema(compiled.get_input_jsonschema),
            "output_schema": json_schema(compiled.get_output_jsonschema),
            "state_schema": json_schema(
                lambda: TypeAdapter(state_schema).json_schema() if state_schema else {}
            ),
            "config_schema": json_schema(compiled.get_config_jsonschema),
            "context_schema": json_schema(compiled.get_context_jsonschema),
        }
    )
