"""What handlers call: one ``authorize`` per request, on the request's own auth state.

The middleware (``app.auth.middleware``) leaves a ``RequestAuth`` in the ASGI
scope of every HTTP request and WebSocket: the gate, the user (None while
auth is off, or on a public route), and, for a stream token, the one run it
opens. Handlers then call::

    filters = await authorize(request, "threads", "read", {"thread_id": tid})

and hand ``filters`` to the stores. With auth off, ``authorize`` returns None
at once. With auth on, the middleware refuses to send a success response
from a route that never called ``authorize`` (or ``allow_authenticated``):
a new endpoint that forgets the gate fails closed, and the route-table test
matrix names it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection

from app.auth.gate import AuthGate
from app.auth.user import AuthUser
from app.errors import AccessDenied, Unauthorized

__all__ = [
    "SCOPE_KEY",
    "RequestAuth",
    "allow_authenticated",
    "as_id",
    "authorize",
    "current_user",
    "request_auth",
]

SCOPE_KEY = "switchyard.auth"


@dataclass
class RequestAuth:
    gate: AuthGate
    user: AuthUser | None
    # (thread_id, run_id) when a stream token authenticated this connection:
    # it may read that run's stream and nothing else.
    stream_run: tuple[str, str] | None = None
    public: bool = False
    authorized: bool = False

    @property
    def enabled(self) -> bool:
        return self.gate.enabled


def request_auth(conn: HTTPConnection) -> RequestAuth | None:
    found = conn.scope.get(SCOPE_KEY)
    return found if isinstance(found, RequestAuth) else None


def current_user(conn: HTTPConnection) -> AuthUser | None:
    state = request_auth(conn)
    return None if state is None else state.user


def as_id(value: str | None) -> uuid.UUID | str | None:
    """An id as LangGraph hands it to handlers: a UUID when it is one."""
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return value


def allow_authenticated(conn: HTTPConnection) -> None:
    """For routes any authenticated user may use (no resource is involved)."""
    state = request_auth(conn)
    if state is not None and state.enabled and not state.public:
        if state.user is None:
            raise Unauthorized("credentials required")
        state.authorized = True


async def authorize(
    conn: HTTPConnection, resource: str, action: str, value: dict[str, Any]
) -> dict[str, Any] | None:
    """The filters this request's records must match; may edit ``value``.

    ``AccessDenied`` if a handler refused; ``Unauthorized`` if there is no user.
    """
    state = request_auth(conn)
    if state is None or not state.enabled:
        return None
    if state.user is None:
        raise Unauthorized("credentials required")
    if state.stream_run is not None and (resource, action) != ("threads", "read"):
        raise AccessDenied("a stream token only opens its run's stream")
    state.authorized = True
    return await state.gate.authorizer.authorize(state.user, resource, action, value)
