"""``/flows`` (declarative flows and their versions) and ``/components``.

Bodies are flow documents in JSON, or YAML with a YAML content type. A flow
is also an assistant: its id is the graph id every run endpoint accepts.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.auth.access import allow_authenticated, authorize
from app.endpoints.http import JSONResponse, query_int, read_body, read_json
from app.errors import InvalidInput, MalformedJSON, NotFound
from app.flows.service import FlowService
from app.runs.resolver import assistant_id_for
from app.services import services_of
from app.store.flows import FlowRecord
from graphs.flows.document import flow_json_schema, parse_flow_text

__all__ = [
    "components",
    "create",
    "delete",
    "get",
    "list_flows",
    "routes",
    "schema",
    "update",
    "validate",
]


def routes() -> list[BaseRoute]:
    one = "/flows/{flow_id}"
    return [
        Route("/flows/validate", validate, methods=["POST"]),
        Route("/flows/schema", schema, methods=["GET"]),
        Route("/flows", list_flows, methods=["GET"]),
        Route("/flows", create, methods=["POST"]),
        Route(one, get, methods=["GET"]),
        Route(one, update, methods=["PUT"]),
        Route(one, delete, methods=["DELETE"]),
        Route("/components", components, methods=["GET"]),
    ]


def _service(request: Request) -> FlowService:
    service = services_of(request).flows
    if service is None:  # pragma: no cover - always built by create_app
        raise NotFound("flows are not enabled on this server")
    return service


async def _document(request: Request) -> Any:
    max_bytes = services_of(request).settings.runs.max_body_bytes
    if "yaml" in request.headers.get("content-type", ""):
        raw = await read_body(request, max_bytes=max_bytes)
        try:
            return parse_flow_text(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedJSON(f"body is not valid YAML: {exc}") from None
    return await read_json(request, max_bytes=max_bytes)


def _summary(record: FlowRecord) -> dict[str, Any]:
    return {
        "flow_id": record.flow_id,
        "assistant_id": assistant_id_for(record.flow_id),
        "version": record.version,
        "description": record.document.get("description", ""),
        "created_at": record.created_at,
    }


async def validate(request: Request) -> Response:
    """Every problem of a document; ``{"flow": ..., "params": ...}`` also checks param values."""
    allow_authenticated(request)
    data = await _document(request)
    if not isinstance(data, dict):  # no body, or JSON that is no document at all
        raise InvalidInput("body must be a flow document (a JSON or YAML object)")
    params = None
    if isinstance(data, dict) and "flow" in data and set(data) <= {"flow", "params"}:
        params = data.get("params")
        if params is not None and not isinstance(params, dict):
            raise InvalidInput("params must be an object of param values")
        data = data["flow"]
    problems = _service(request).problems(data, params)
    return JSONResponse({"valid": not problems, "problems": [p.to_json() for p in problems]})


async def create(request: Request) -> Response:
    # A flow is an assistant: creating, changing or removing one is an assistants action.
    await authorize(request, "assistants", "create", {"graph_id": None})
    record = await _service(request).create(await _document(request))
    return JSONResponse(await _service(request).get(record.flow_id), status_code=201)


async def update(request: Request) -> Response:
    flow_id = request.path_params["flow_id"]
    await authorize(request, "assistants", "update", {"graph_id": flow_id})
    await _service(request).update(flow_id, await _document(request))
    return JSONResponse(await _service(request).get(flow_id))


async def list_flows(request: Request) -> Response:
    allow_authenticated(request)
    return JSONResponse([_summary(r) for r in await _service(request).latest()])


async def get(request: Request) -> Response:
    allow_authenticated(request)
    flow_id = request.path_params["flow_id"]
    if "version" in request.query_params:
        version = query_int(request, "version", 1, low=1, high=2**31)
        return JSONResponse((await _service(request).version(flow_id, version)).to_json())
    return JSONResponse(await _service(request).get(flow_id))


async def delete(request: Request) -> Response:
    await authorize(request, "assistants", "delete", {"graph_id": request.path_params["flow_id"]})
    await _service(request).delete(request.path_params["flow_id"])
    return Response(status_code=204)


async def schema(request: Request) -> Response:
    allow_authenticated(request)
    return JSONResponse(flow_json_schema())


async def components(request: Request) -> Response:
    allow_authenticated(request)
    catalog = services_of(request).registry.components()
    return JSONResponse({"components": catalog.describe(), "errors": catalog.errors})
