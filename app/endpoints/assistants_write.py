"""Assistants: create, update (a new version each time), delete, versions, set latest.

The per-graph system assistants are read-only: changing one answers 409 and
says to create an assistant for the graph instead.
"""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import Response

from app.auth.access import authorize
from app.endpoints.assistants import visible_assistant
from app.endpoints.http import JSONResponse, parse_body, query_bool, read_json, validate
from app.errors import AssistantNotFound, Conflict, NotFound
from app.platform.schemas import AssistantCreate, AssistantLatest, AssistantPatch, AssistantVersions
from app.services import Services, services_of
from app.store.assistants import Assistant, AssistantExists


class ReadOnlyAssistant(Conflict):
    """A system assistant cannot be changed."""


def _check_graph(services: Services, graph_id: str) -> None:
    if graph_id not in services.registry.ids():
        raise NotFound(f"graph {graph_id!r} not found; served graphs: {services.registry.ids()}")


async def _writable(request: Request, action: str) -> Assistant:
    services = services_of(request)
    assistant_id = request.path_params["assistant_id"]
    assistant = await visible_assistant(request, action)
    if assistant.is_system or services.assistants.is_system(assistant_id):
        raise ReadOnlyAssistant(
            f"assistant {assistant_id} is the system assistant of graph "
            f"{assistant.graph_id!r} and is read-only; create one with "
            f"POST /assistants {{'graph_id': '{assistant.graph_id}', ...}} instead"
        )
    return assistant


async def create(request: Request) -> Response:
    services = services_of(request)
    body = await parse_body(request, AssistantCreate)
    await authorize(request, "assistants", "create", body.model_dump(exclude_none=True))
    _check_graph(services, body.graph_id)
    assistant = Assistant(
        assistant_id=body.assistant_id or str(uuid.uuid4()),
        graph_id=body.graph_id,
        name=body.name,
        description=body.description,
        config=body.config,
        context=body.context,
        metadata=body.metadata,
    )
    store = services.assistants.store
    try:
        created = await store.create(assistant)
    except AssistantExists:
        existing = await store.get(assistant.assistant_id)
        if body.if_exists != "do_nothing" or existing is None:
            raise
        created = existing
    return JSONResponse(created.to_json())


async def patch(request: Request) -> Response:
    services = services_of(request)
    body = await parse_body(request, AssistantPatch, empty_ok=True)
    assistant = await _writable(request, "update")
    if body.graph_id is not None:
        _check_graph(services, body.graph_id)
    changed = await services.assistants.store.update(
        assistant.assistant_id,
        graph_id=body.graph_id,
        config=body.config,
        context=body.context,
        metadata=body.metadata,
        name=body.name,
        description=body.description,
    )
    return JSONResponse(changed.to_json())


async def delete(request: Request) -> Response:
    services = services_of(request)
    assistant = await _writable(request, "delete")
    if query_bool(request, "delete_threads"):
        threads = services.storage.threads
        owned = {"assistant_id": assistant.assistant_id}
        while batch := await threads.search(metadata=owned, limit=100):
            for thread in batch:
                await services.platform.purger.delete_thread(thread.thread_id)
    await services.assistants.store.delete(assistant.assistant_id)
    return Response(status_code=204)


async def versions(request: Request) -> Response:
    services = services_of(request)
    assistant = await visible_assistant(request, "read")
    body = await parse_body(request, AssistantVersions, empty_ok=True)
    found = await services.assistants.store.versions(
        assistant.assistant_id, metadata=body.metadata, limit=body.limit, offset=body.offset
    )
    return JSONResponse([v.to_json() for v in found])


async def set_latest(request: Request) -> Response:
    services = services_of(request)
    # langgraph-sdk sends {"version": n}; the openapi spec a ?version= query.
    data = await read_json(request, max_bytes=services.settings.runs.max_body_bytes)
    if data is None and "version" in request.query_params:
        data = {"version": request.query_params["version"]}
    body = validate(AssistantLatest, data)
    assistant = await _writable(request, "update")
    try:
        changed = await services.assistants.store.set_latest(assistant.assistant_id, body.version)
    except AssistantNotFound as exc:
        raise NotFound(str(exc)) from None
    return JSONResponse(changed.to_json())
