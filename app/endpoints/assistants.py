"""Assistants: search, count, get, and what their graph says about itself.

Writes (create, update, delete, versions) are in ``assistants_write``.
"""

from __future__ import annotations

from typing import Any

from langgraph.pregel import Pregel
from starlette.requests import Request
from starlette.responses import Response

from app.endpoints import graph_info
from app.endpoints.http import JSONResponse, parse_body, query_bool
from app.endpoints.select import pick
from app.schemas import AssistantCount, AssistantSearch
from app.services import Services, services_of
from app.store.assistants import Assistant


async def search(request: Request) -> Response:
    body = await parse_body(request, AssistantSearch, empty_ok=True)
    found = await services_of(request).assistants.store.search(
        graph_id=body.graph_id,
        metadata=body.metadata,
        name=body.name,
        limit=body.limit,
        offset=body.offset,
        # Without sort_by: creation order, so the system assistants come in
        # the order their graphs are configured (they share one created_at).
        sort_by=body.sort_by or "created_at",
        sort_order=body.sort_order,
    )
    headers = {}
    if len(found) == body.limit:  # what langgraph-sdk's response_format="object" reads
        headers["X-Pagination-Next"] = str(body.offset + body.limit)
    records = [pick(a.to_json(), body.select) for a in found]
    return JSONResponse(records, headers=headers)


async def count(request: Request) -> Response:
    body = await parse_body(request, AssistantCount, empty_ok=True)
    total = await services_of(request).assistants.store.count(
        graph_id=body.graph_id, metadata=body.metadata, name=body.name
    )
    return JSONResponse(total)


async def _assistant(request: Request) -> tuple[Services, Assistant]:
    services = services_of(request)
    return services, await services.assistants.lookup(request.path_params["assistant_id"])


async def _graph(request: Request) -> tuple[Assistant, Pregel[Any, Any, Any, Any]]:
    services, assistant = await _assistant(request)
    services.assistants.check_graph(assistant.graph_id)
    return assistant, await services.registry.get(assistant.graph_id)


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
