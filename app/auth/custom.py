"""LangGraph custom auth: the ``langgraph_sdk.Auth`` object a ``langgraph.json`` names.

``{"auth": {"path": "./auth.py:auth"}}`` is imported once at startup, the
way graph specs are (paths relative to the config file, its dependencies on
``sys.path``). Its ``@auth.authenticate`` handler is called on every
authenticated request with the arguments it asks for by name, as LangGraph
Server passes them:

    request        the Starlette Request (a WebSocket for ``/ws``)
    path, method   "/threads/…/runs/…/stream", "GET"
    path_params    {"thread_id": …, "run_id": …}
    query_params   {"stream": "true"}
    headers        {b"x-api-key": b"…", …}: raw, lower-cased names
    authorization  the Authorization header, or None

What it returns becomes the user (``app.auth.user``).
``Auth.exceptions.HTTPException`` answers with its status and headers; any
other exception (an ``assert`` on a missing header, as LangGraph's tutorial
writes) is a 401, never a 500.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from langgraph_sdk import Auth
from starlette.requests import HTTPConnection

from app.auth.user import AuthUser
from app.errors import AccessDenied, Unauthorized
from graphs.loader import GraphLoadError, import_target
from graphs.registry import read_auth_spec

__all__ = ["CustomAuthenticator", "load_custom_auth"]

log = logging.getLogger("switchyard.auth")

_ARGUMENTS = frozenset(
    {"request", "path", "method", "path_params", "query_params", "headers", "authorization"}
)


class AuthConfigError(GraphLoadError):
    """The ``auth`` entry of a config file cannot be used."""


def load_custom_auth(config_file: Path | None) -> Auth | None:
    """The ``Auth`` object ``config_file`` names under ``auth.path``, or None."""
    if config_file is None:
        return None
    spec = read_auth_spec(config_file)
    if spec is None:
        return None
    target, _ = import_target(spec.spec, config_file.parent, spec.search_paths)
    if not isinstance(target, Auth):
        raise AuthConfigError(
            spec.spec, f"auth.path must name a langgraph_sdk.Auth, not {type(target).__name__}"
        )
    return target


class CustomAuthenticator:
    """Calls an ``Auth`` object's ``@auth.authenticate`` handler."""

    def __init__(self, auth: Auth) -> None:
        handler = auth._authenticate_handler
        assert handler is not None, "CustomAuthenticator needs an @auth.authenticate handler"
        self._handler: Callable[..., Any] = handler
        names = set(inspect.signature(handler).parameters)
        unknown = names - _ARGUMENTS
        if unknown:
            raise AuthConfigError(
                getattr(handler, "__name__", "authenticate"),
                f"@auth.authenticate asks for {sorted(unknown)}; it may take {sorted(_ARGUMENTS)}",
            )
        self._names = names

    def describe(self) -> str:
        return f"langgraph.json auth ({getattr(self._handler, '__qualname__', 'authenticate')})"

    async def authenticate(self, conn: HTTPConnection, path_params: Mapping[str, Any]) -> AuthUser:
        arguments = {name: _argument(name, conn, path_params) for name in self._names}
        try:
            result = self._handler(**arguments)
            if inspect.isawaitable(result):
                result = await result
        except Auth.exceptions.HTTPException as exc:
            if exc.status_code == 401:
                raise Unauthorized(exc.detail, headers=exc.headers) from None
            raise AccessDenied(exc.detail, status=exc.status_code, headers=exc.headers) from None
        except Exception as exc:
            # Type only: the message may quote the credential.
            log.info("authenticate handler refused a request: %s", type(exc).__name__)
            raise Unauthorized("authentication failed") from None
        return AuthUser.from_result(result)


def _argument(name: str, conn: HTTPConnection, path_params: Mapping[str, Any]) -> Any:
    if name == "request":
        return conn
    if name == "path":
        return conn.url.path
    if name == "method":
        return conn.scope.get("method", "GET")  # a WebSocket handshake is a GET
    if name == "path_params":
        return dict(path_params)
    if name == "query_params":
        return dict(conn.query_params)
    if name == "headers":
        return dict(conn.scope.get("headers", ()))
    authorization = conn.headers.get("authorization")
    return authorization or None
