"""Health and server information."""

from __future__ import annotations

from importlib.metadata import version

from starlette.requests import Request
from starlette.responses import Response

from app.auth.access import allow_authenticated
from app.endpoints.http import JSONResponse
from app.services import services_of


async def ok(request: Request) -> Response:
    # The app only starts serving after the lifespan compiled every graph and
    # opened storage, so reaching this handler means ready.
    return JSONResponse({"ok": True})


async def info(request: Request) -> Response:
    allow_authenticated(request)  # public unless removed from auth.public_paths
    services = services_of(request)
    registry = services.registry
    return JSONResponse(
        {
            "name": "switchyard",
            "version": version("switchyard"),
            "langgraph_py_version": version("langgraph"),
            "flags": {"assistants": True, "crons": False, "langsmith": False},
            "storage": services.settings.storage.backend,
            "open_streams": len(services.streams),  # SSE responses being written now
            "graphs": {
                graph_id: {"status": "ok", "compiles": registry.compiles(graph_id)}
                for graph_id in registry.ids()
            }
            | {
                graph_id: {"status": "failed", "error": why}
                for graph_id, why in registry.failed.items()
            },
        }
    )
