"""``/mcp/servers``: the MCP servers flows and graphs call, managed at run time.

``GET /mcp/servers`` lists them (with ``status``), ``POST`` registers one
(409 if the name is taken), ``PUT /mcp/servers/{name}`` registers or
replaces (the old client is closed), ``DELETE`` removes, ``POST .../reload``
drops the client so the next use reconnects, ``GET .../tools`` lists the
server's tools (connecting if needed; 502 if it cannot).

A stdio server is a process this server starts, so over HTTP only the
executables in the setting ``mcp.stdio_commands`` may be registered.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from app.auth.access import allow_authenticated, authorize
from app.endpoints.http import JSONResponse, describe_validation_error, read_json
from app.errors import Conflict, InvalidInput, McpServerNotFound, McpUnavailable
from app.mcp.config import McpServerConfig
from app.mcp.registry import McpError, McpRegistry
from app.services import services_of

__all__ = ["create", "delete", "get", "list_servers", "put", "reload", "routes", "serve", "tools"]


def routes() -> list[BaseRoute]:
    one = "/mcp/servers/{name}"
    return [
        Route("/mcp/servers", list_servers, methods=["GET"]),
        Route("/mcp/servers", create, methods=["POST"]),
        Route(one, get, methods=["GET"]),
        Route(one, put, methods=["PUT"]),
        Route(one, delete, methods=["DELETE"]),
        Route(one + "/reload", reload, methods=["POST"]),
        Route(one + "/tools", tools, methods=["GET"]),
        Route("/mcp", serve, methods=["GET", "POST", "DELETE"]),
    ]


class _Serve:
    """``/mcp``: Switchyard's assistants as MCP tools (``app.mcp.server``).

    An ASGI app rather than a request handler (a class instance, so that
    Starlette's ``Route`` hands it the raw scope): the MCP transport writes
    its own responses, streamed or not.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Any authenticated user: the tools are stateless runs, which any user may start.
        allow_authenticated(HTTPConnection(scope))
        endpoint = scope["app"].state.services.mcp_endpoint
        if endpoint is None:
            response = JSONResponse(
                {"detail": "serving MCP is off (setting mcp.serve)", "code": "not_found"},
                status_code=404,
            )
            await response(scope, receive, send)
            return
        await endpoint(scope, receive, send)


serve = _Serve()


def _registry(request: Request) -> McpRegistry:
    registry = services_of(request).mcp
    assert registry is not None  # built by create_app
    return registry


def _shown(registry: McpRegistry, config: McpServerConfig) -> dict[str, Any]:
    return {**config.public(), "status": registry.status(config.name)}


async def _config(request: Request, name: str | None = None) -> McpServerConfig:
    settings = services_of(request).settings
    data = await read_json(request, max_bytes=settings.runs.max_body_bytes)
    if not isinstance(data, dict):
        raise InvalidInput("body must be a JSON object describing an MCP server")
    if name is not None:
        data = {"name": name, **data}
        if data["name"] != name:
            raise InvalidInput(f"body name {data['name']!r} is not {name!r}")
    try:
        config = McpServerConfig.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc)) from None
    if config.transport == "stdio" and config.command not in settings.mcp.stdio_commands:
        allowed = ", ".join(settings.mcp.stdio_commands) or "none"
        raise InvalidInput(
            f"stdio command {config.command!r} may not be registered over HTTP "
            f"(setting mcp.stdio_commands; allowed: {allowed})"
        )
    return config


def _known(registry: McpRegistry, name: str) -> McpServerConfig:
    config = registry.get(name)
    if config is None:
        raise McpServerNotFound(f"no MCP server {name!r} (registered: {registry.names()})")
    return config


async def list_servers(request: Request) -> Response:
    allow_authenticated(request)
    registry = _registry(request)
    return JSONResponse([_shown(registry, _known(registry, n)) for n in registry.names()])


async def create(request: Request) -> Response:
    await authorize(request, "assistants", "update", {"mcp_server": True})
    registry = _registry(request)
    config = await _config(request)
    if registry.get(config.name) is not None:
        raise Conflict(f"MCP server {config.name!r} exists; PUT /mcp/servers/{config.name}")
    await registry.put(config)
    return JSONResponse(_shown(registry, config), status_code=201)


async def put(request: Request) -> Response:
    await authorize(request, "assistants", "update", {"mcp_server": True})
    registry = _registry(request)
    config = await _config(request, request.path_params["name"])
    replaced = await registry.put(config)
    return JSONResponse(_shown(registry, config), status_code=200 if replaced else 201)


async def get(request: Request) -> Response:
    allow_authenticated(request)
    registry = _registry(request)
    return JSONResponse(_shown(registry, _known(registry, request.path_params["name"])))


async def delete(request: Request) -> Response:
    await authorize(request, "assistants", "update", {"mcp_server": True})
    registry = _registry(request)
    _known(registry, request.path_params["name"])
    await registry.remove(request.path_params["name"])
    return Response(status_code=204)


async def reload(request: Request) -> Response:
    await authorize(request, "assistants", "update", {"mcp_server": True})
    registry = _registry(request)
    config = _known(registry, request.path_params["name"])
    await registry.reload(config.name)
    return JSONResponse(_shown(registry, config))


async def tools(request: Request) -> Response:
    allow_authenticated(request)
    registry = _registry(request)
    name = _known(registry, request.path_params["name"]).name
    try:
        found = await registry.list_tools(name)
    except McpError as exc:
        raise McpUnavailable(str(exc)) from None
    return JSONResponse(
        [
            {"name": t.name, "description": t.description, "input_schema": t.inputSchema}
            for t in found
        ]
    )
