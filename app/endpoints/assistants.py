"""Assistants: search, count, get, and what their graph says about itself.

Writes (create, update, delete, versions) are in ``assistants_write``.
"""

from __future__ import annotations

from typing import Any

from langgraph.pregel import Pregel
from starlette.requests import Request
from starlette.responses import Response

from app.auth.access import authorize
from app.endpoints import graph_info
from app.endpoints.http import JSONResponse, parse_body, query_bool
from app.endpoints.select import pick
from app.errors import AssistantNotFound
from app.flows.params import params_to_read
from app.schemas import AssistantCount, AssistantSearch
from app.services import Services, services_of
from app.store.assistants import Assistant
from app.store.filters import matches

# Assistants fetched to apply an authorization filter before paging.
_FILTERED_SCAN = 10_000


async def _filters(request: Request, body: AssistantSearch | AssistantCount) -> Any:
    value: dict[str, Any] = body.model_dump(exclude_none=True, exclude={"select"})
    return await authorize(request, "assistants", "search", value)


async def search(request: Request) -> Response:
    body = await parse_body(request, AssistantSearch, empty_ok=True)
    filters = await _filters(request, body)
    store = services_of(request).assistants.store
    query: dict[str, Any] = {
        "graph_id": body.graph_id,
        "metadata": body.metadata,
        "name": body.name,
        # Without sort_by: creation order, so the system assistants come in
        # the order their graphs are configured (they share one created_at).
        "sort_by": body.sort_by or "created_at",
        "sort_order": body.sort_order,
    }
    if filters:
        visible = [
            a
            for a in await store.search(**query, limit=_FILTERED_SCAN)
            if matches(a.metadata, filters)
        ]
        found = visible[body.offset : body.offset + body.limit]
    else:
        found = await store.search(**query, limit=body.limit, offset=body.offset)
    headers = {}
    if len(found) == body.limit:  # what langgraph-sdk's response_format="object" reads
        headers["X-Pagination-Next"] = str(body.offset + body.limit)
    records = [pick(a.to_json(), body.select) for a in found]
    return JSONResponse(records, headers=headers)


async def count(request: Request) -> Response:
    body = await parse_body(request, AssistantCount, empty_ok=True)
    filters = await _filters(request, body)
    store = services_of(request).assistants.store
    if filters:
        found = await store.search(
            graph_id=body.graph_id, metadata=body.metadata, name=body.name, limit=_FILTERED_SCAN
        )
        return JSONResponse(sum(matches(a.metadata, filters) for a in found))
    total = await store.count(graph_id=body.graph_id, metadata=body.metadata, name=body.name)
    return JSONResponse(total)


async def visible_assistant(request: Request, action: str = "read") -> Assistant:
    """The path's assistant, if ``assistants.<action>`` lets the user see it."""
    services = services_of(request)
    assistant_id = request.path_params["assistant_id"]
    assistant = await services.assistants.lookup(assistant_id)
    filters = await authorize(
        request, "assistants", action, {"assistant_id": assistant.assistant_id}
    )
    if not matches(assistant.metadata, filters):
        raise AssistantNotFound(f"assistant {assistant_id!r} not found")
    return assistant


async def _assistant(request: Request) -> tuple[Services, Assistant]:
    return services_of(request), await visible_assistant(request)


async def _graph(request: Request) -> tuple[Assistant, Pregel[Any, Any, Any, Any]]:
    services, assistant = await _assistant(request)
    services.assistants.check_graph(assistant.graph_id)
    # A template flow is read with its assistant's params, or stand-ins for required ones.
    params = params_to_read(services.registry, assistant.graph_id, assistant.config)
    return assistant, await services.registry.get(assistant.graph_id, params=params)


async def get(request: Request) -> Response:
    _, assistant = await _assistant(request)
    return JSONResponse(assistant.to_json())


async def graph(request: Request) -> Response:
    _, compiled = await _graph(request)
    return JSONResponse(await graph_info.drawing(compiled, graph_info.xray_param(request)))


async def schemas(request: Request) -> Response:
    assistant, compiled = await _graph(request)
    return JSONResponse({"graph_id": assistant.graph_id, **graph_info.schemas(compiled)})


async def subgraphs(request: Request) -> Response:
    _, compiled = await _graph(request)
    found = await graph_info.subgraph_schemas(
        compiled,
        namespace=request.path_params.get("namespace"),
        recurse=query_bool(request, "recurse"),
    )
    return JSONResponse(found)
