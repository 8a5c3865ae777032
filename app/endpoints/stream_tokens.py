"""``POST /threads/{thread_id}/runs/{run_id}/stream-token``: a run-scoped stream token.

For clients that cannot send headers on a stream (a browser ``EventSource``):
the answer's ``stream_url`` opens this run's stream, and only it, until
``expires_at`` (see ``app.auth.stream_tokens``). Asking requires reading the
run (``threads.read``), so another user's run is a 404 here too.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from app.auth.access import request_auth
from app.endpoints.http import JSONResponse
from app.endpoints.scoped import run_for

__all__ = ["issue"]


async def issue(request: Request) -> Response:
    run = await run_for(
        request, request.path_params["thread_id"], request.path_params["run_id"], "read"
    )
    state = request_auth(request)
    assert state is not None, "AuthMiddleware marks every request"
    token, expires_at = state.gate.stream_tokens.issue(state.user, run.thread_id, run.run_id)
    path = f"/threads/{quote(run.thread_id)}/runs/{quote(run.run_id)}/stream"
    return JSONResponse(
        {
            "token": token,
            "expires_at": expires_at,
            "stream_url": f"{path}?stream_token={token}",
        }
    )
