"""The OpenAPI document: every route is in it, and it is made of the validating models."""

from __future__ import annotations

import httpx
import pytest
from starlette.routing import Route, WebSocketRoute

from app.main import routes
from app.openapi import UndocumentedRoute, build_document
from app.openapi.document import operation_keys
from app.schemas import RunCreate, ThreadSearch


def test_document_when_built_then_every_http_route_has_an_operation() -> None:
    document = build_document(routes())
    documented = {(m.upper(), p) for p, item in document["paths"].items() for m in item}
    assert set(operation_keys(routes())) == documented
    sockets = {r.path for r in routes() if isinstance(r, WebSocketRoute)}
    assert set(document["x-websockets"]) == sockets
    assert document["x-websockets"]["/ws"] == "see docs/api.md, 'WebSocket /ws'"


# Protocol endpoints described in docs/api.md rather than here (see
# app.openapi.platform_operations): the MCP endpoint and the thread protocol's streams.
PROTOCOL_OPERATIONS = {
    ("GET", "/mcp"),
    ("POST", "/mcp"),
    ("DELETE", "/mcp"),
    ("GET", "/threads/{thread_id}/stream"),
    ("POST", "/threads/{thread_id}/stream/events"),
}


def test_document_when_built_then_only_protocol_endpoints_undocumented() -> None:
    document = build_document(routes())
    undocumented = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if operation.get("x-undocumented")
    }
    assert undocumented == PROTOCOL_OPERATIONS


def test_document_when_a_route_has_no_entry_then_it_refuses_to_build() -> None:
    async def handler() -> None: ...

    extra = [*routes(), Route("/secret", handler, methods=["GET"])]
    with pytest.raises(UndocumentedRoute, match="GET /secret"):
        build_document(extra, strict=True)
    # Served all the same (never a 500), marked as not described.
    assert build_document(extra)["paths"]["/secret"]["get"]["x-undocumented"] is True


def test_document_when_built_then_bodies_are_the_validating_models() -> None:
    schemas = build_document(routes())["components"]["schemas"]
    for model in (RunCreate, ThreadSearch):
        expected = model.model_json_schema(ref_template="#/components/schemas/{model}")
        expected.pop("$defs", None)
        assert schemas[model.__name__] == expected
    assert schemas["ThreadSearch"]["additionalProperties"] is False


async def test_openapi_json_when_served_then_same_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json()["paths"].keys() == build_document(routes())["paths"].keys()
