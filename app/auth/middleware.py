"""The gate every HTTP request and WebSocket passes (a pure ASGI middleware).

For each connection, before any endpoint runs:

1. Auth off (no authenticator configured): mark the scope and pass.
2. A public path (``/ok``, the playground page, ``auth.public_paths``): pass
   without looking at credentials.
3. A ``?stream_token=`` on ``GET /threads/{thread_id}/runs/{run_id}/stream``
   (or on ``/ws``): the token's user, limited to the token's run. The same
   token anywhere else is not a credential.
4. A WebSocket without credentials: accepted, to authenticate with its
   first message (``app.transport.ws``).
5. Otherwise the gate authenticates; failure answers 401 with
   ``WWW-Authenticate`` (a WebSocket handshake is refused the same way,
   where the server supports denial responses, else closed with 1008).

Then, for HTTP, the response is watched: a success status from a route that
never called ``authorize``/``allow_authenticated`` is replaced by a 500, so
an endpoint that forgets the gate fails closed instead of leaking.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from app import serde
from app.auth.access import SCOPE_KEY, RequestAuth
from app.auth.credentials import Credentials, read_credentials
from app.auth.gate import AuthGate
from app.auth.user import InvalidUser
from app.errors import WWW_AUTHENTICATE, SwitchyardError, Unauthorized

__all__ = ["RUN_STREAM_PATH", "AuthMiddleware"]

log = logging.getLogger("switchyard.auth")

RUN_STREAM_PATH = "/threads/{thread_id}/runs/{run_id}/stream"
WS_PATH = "/ws"


def match_route(scope: Scope) -> tuple[str | None, dict[str, Any]]:
    """The path template and path params of the route that will serve ``scope``."""
    router = getattr(scope.get("app"), "router", None)
    partial: tuple[str | None, dict[str, Any]] | None = None
    for route in getattr(router, "routes", ()):
        match, child = route.matches(scope)
        if match == Match.FULL:
            return getattr(route, "path", None), dict(child.get("path_params", {}))
        if match == Match.PARTIAL and partial is None:
            partial = getattr(route, "path", None), dict(child.get("path_params", {}))
    return partial or (None, {})


class AuthMiddleware:
    def __init__(self, app: ASGIApp, gate: AuthGate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        gate = self.gate
        if not gate.enabled or gate.is_public(scope["path"]):
            scope[SCOPE_KEY] = RequestAuth(gate, None, public=gate.enabled)
            await self.app(scope, receive, send)
            return
        credentials = read_credentials(scope)
        try:
            state = await self._authenticate(scope, credentials)
        except SwitchyardError as exc:
            await self._deny(scope, receive, send, exc, credentials)
            return
        scope[SCOPE_KEY] = state
        if scope["type"] == "http":
            send = _guarded(scope, state, send)
        await self.app(scope, receive, send)

    async def _authenticate(self, scope: Scope, credentials: Credentials) -> RequestAuth:
        route_path, path_params = match_route(scope)
        is_http = scope["type"] == "http"
        token_route = (
            route_path == RUN_STREAM_PATH and scope.get("method") in ("GET", "HEAD")
            if is_http
            else route_path == WS_PATH
        )
        if credentials.stream_token is not None and token_route:
            grant = self.gate.stream_tokens.verify(credentials.stream_token)
            scoped = grant is not None and (
                not is_http
                or (grant.thread_id, grant.run_id)
                == (path_params.get("thread_id"), path_params.get("run_id"))
            )
            if grant is None or not scoped:
                raise Unauthorized("stream token is invalid, expired or for another run")
            return RequestAuth(self.gate, grant.user, (grant.thread_id, grant.run_id))
        if route_path == WS_PATH and not credentials.present:
            return RequestAuth(self.gate, None)  # the socket's first message authenticates
        try:
            user = await self.gate.authenticate(HTTPConnection(scope), credentials, path_params)
        except InvalidUser as exc:
            log.error("the authenticate handler returned no usable user: %s", exc)
            raise SwitchyardError("authentication is misconfigured on the server") from None
        return RequestAuth(self.gate, user)

    async def _deny(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        exc: SwitchyardError,
        credentials: Credentials,
    ) -> None:
        headers = dict(exc.headers or {})
        if exc.http_status == 401:
            challenge = WWW_AUTHENTICATE
            if credentials.present or credentials.stream_token:
                challenge += ', error="invalid_token"'  # RFC 6750 §3.1
            if headers.get("WWW-Authenticate", WWW_AUTHENTICATE) == WWW_AUTHENTICATE:
                headers["WWW-Authenticate"] = challenge  # not one an auth.py chose
        response = Response(
            serde.dumps(exc.to_body()),
            status_code=exc.http_status,
            headers=headers,
            media_type="application/json",
        )
        if scope["type"] == "http":
            await response(scope, receive, send)
            return
        websocket = WebSocket(scope, receive, send)
        if "websocket.http.response" in scope.get("extensions", {}):
            await websocket.send_denial_response(response)
        else:
            await websocket.close(1008, exc.message[:120])


def _guarded(scope: Scope, state: RequestAuth, send: Send) -> Send:
    refused = False

    async def guarded_send(message: Message) -> None:
        nonlocal refused
        if refused:
            return  # the refusal was the whole response
        start = message["type"] == "http.response.start"
        if start and message["status"] < 400 and not state.authorized:
            refused = True
            log.error(
                "%s %s answered without authorizing; refused. Call app.auth.access.authorize "
                "(or allow_authenticated) in its handler",
                scope.get("method"),
                scope.get("path"),
            )
            body = serde.dumps(
                {"detail": "this route does not authorize requests yet", "code": "internal"}
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await send(message)

    return guarded_send
