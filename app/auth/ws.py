"""A WebSocket that authenticates with its first message (``{"type": "auth", ...}``).

A browser cannot set headers on a WebSocket handshake, so a socket that
arrived without credentials (``app.auth.middleware`` let it in, user None)
must send ``auth`` first. The message's credential is checked exactly as a
header would be: ``token`` as ``Authorization: Bearer``, ``api_key`` as
``X-Api-Key`` (a langgraph.json ``authenticate`` handler sees those headers),
``stream_token`` as a run's stream token, which then lets the socket
subscribe to that one run and do nothing else.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from app.auth.access import request_auth
from app.auth.credentials import read_credentials
from app.auth.user import AuthUser
from app.errors import InvalidInput, Unauthorized

__all__ = ["authenticate_message", "needs_authentication"]


def needs_authentication(websocket: WebSocket) -> bool:
    state = request_auth(websocket)
    return state is not None and state.enabled and state.user is None


async def authenticate_message(
    websocket: WebSocket,
    *,
    token: str | None = None,
    api_key: str | None = None,
    stream_token: str | None = None,
) -> AuthUser:
    """Authenticate the socket with a message's credential; its user from now on."""
    state = request_auth(websocket)
    assert state is not None, "AuthMiddleware marks every connection"
    if not state.enabled:
        raise InvalidInput("authentication is off on this server: send no auth message")
    gate = state.gate
    if stream_token is not None:
        grant = gate.stream_tokens.verify(stream_token)
        if grant is None:
            raise Unauthorized("stream token is invalid or expired")
        state.user, state.stream_run = grant.user, (grant.thread_id, grant.run_id)
        return grant.user
    # The handshake's scope, with the message's credential as the header it stands for.
    headers = [
        (name, value)
        for name, value in websocket.scope.get("headers", ())
        if name not in (b"authorization", b"x-api-key")
    ]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    if api_key is not None:
        headers.append((b"x-api-key", api_key.encode()))
    scope = {**websocket.scope, "headers": headers}
    user = await gate.authenticate(HTTPConnection(scope), read_credentials(scope), {})
    state.user = user
    return user
