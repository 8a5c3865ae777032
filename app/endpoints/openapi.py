"""``GET /openapi.json``: the document of the routes this app serves, built once."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.auth.access import allow_authenticated
from app.endpoints.http import JSONResponse
from app.openapi import build_document

__all__ = ["document"]


async def document(request: Request) -> Response:
    allow_authenticated(request)  # public unless removed from auth.public_paths
    state = request.app.state
    # Built on first request, from the app's own route table: what is served
    # is what is documented. ~10 ms, so not worth paying at startup.
    if getattr(state, "openapi", None) is None:
        state.openapi = build_document(request.app.routes)
    return JSONResponse(state.openapi)
