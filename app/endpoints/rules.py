"""The router's admin surface: what rules are loaded, and reload them without a restart."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.auth.access import authorize
from app.endpoints.http import JSONResponse
from app.errors import NotFound
from app.services import services_of


async def list_rules(request: Request) -> Response:
    """The loaded rules with their hit counts, examples per target, and the last reload."""
    await authorize(request, "assistants", "read", {"assistant_id": "auto"})
    services = services_of(request)
    if services.router is None:
        raise NotFound("no router is configured (the 'auto' graph is not registered)")
    return JSONResponse(services.router.rules.report().model_dump())


async def reload_rules(request: Request) -> Response:
    """Reload ``rules/*.yaml`` atomically; a bad file keeps the old rules serving (422)."""
    services = services_of(request)
    # The rules decide where the "auto" assistant sends requests: changing it.
    await authorize(request, "assistants", "update", {"assistant_id": "auto"})
    if services.router is None:
        raise NotFound("no router is configured (the 'auto' graph is not registered)")
    result = await services.router.reload_rules()
    body = result.model_dump()
    if not result.ok:
        body["detail"] = f"rules not reloaded, previous rules still serve: {result.error}"
        return JSONResponse(body, status_code=422)
    return JSONResponse(body)
