"""Custom routes: ``langgraph.json``'s ``http`` section, as LangGraph Server reads it.

    {"graphs": {...},
     "http": {"app": "./web.py:app",            # a Starlette or FastAPI app
              "disable_assistants": false,       # drop /assistants...
              "disable_threads": false,          # /threads (not their runs)
              "disable_runs": false,             # /runs, /threads/{id}/runs...
              "disable_store": false,            # /store...
              "disable_meta": false,             # /info (and /openapi.json, /metrics)
              "disable_mcp": false,              # /mcp
              "disable_webhooks": false,         # runs with a webhook are refused
              "cors": {"allow_origins": ["https://app.example"], ...},
              "mount_prefix": "/api"}}           # everything served under /api

The app's routes are served beside the API and win over it where both
match (a request the app does not route goes to the API); the app's own
middleware and lifespan run as usual. ``/ok`` always stays: it is the
health check. ``enable_custom_route_auth`` puts the app's routes behind the
server's authentication. Keys LangGraph defines that have no meaning here
(``disable_ui``, ``disable_a2a``, ``configurable_headers``,
``logging_headers``, ``middleware_order``) are accepted and ignored;
unknown keys are a startup error.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute, Match, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.access import allow_authenticated, current_user
from graphs.loader import GraphLoadError, import_target

__all__ = ["HttpConfig", "filter_routes", "load_http_config", "middleware", "user_lifespan"]


class CorsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    allow_origins: list[str] = Field(default_factory=list)
    allow_origin_regex: str | None = None
    allow_methods: list[str] = Field(default_factory=lambda: ["GET"])
    allow_headers: list[str] = Field(default_factory=list)
    allow_credentials: bool = False
    expose_headers: list[str] = Field(default_factory=list)
    max_age: int = 600


class HttpConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    app: str | None = None
    disable_assistants: bool = False
    disable_threads: bool = False
    disable_runs: bool = False
    disable_store: bool = False
    disable_meta: bool = False
    disable_mcp: bool = False
    disable_webhooks: bool = False
    cors: CorsConfig | None = None
    mount_prefix: str | None = Field(None, pattern=r"^/[^?#]*[^/?#]$")
    enable_custom_route_auth: bool = False
    # LangGraph Server keys with no meaning here: accepted, ignored (see docstring).
    disable_ui: bool = False
    disable_a2a: bool = False
    configurable_headers: dict[str, Any] | None = None
    logging_headers: dict[str, Any] | None = None
    middleware_order: str | None = None

    base_dir: Path = Path(".")  # the config file's directory (not a JSON key)


def load_http_config(config_file: Path | None) -> HttpConfig | None:
    """The ``http`` section of ``config_file``, or None when there is none."""
    if config_file is None:
        return None
    try:
        raw = json.loads(config_file.read_text(encoding="utf-8")).get("http")
        if raw is None:
            return None
        return HttpConfig.model_validate({**raw, "base_dir": config_file.parent})
    except (OSError, ValueError, ValidationError) as exc:
        raise GraphLoadError(str(config_file), f"invalid 'http' section: {exc}") from exc


def _group(path: str) -> str:
    if (path.startswith("/threads") and "/runs" in path) or path.startswith("/runs"):
        return "runs"
    for prefix, group in (
        ("/assistants", "assistants"),
        ("/threads", "threads"),
        ("/store", "store"),
        ("/mcp", "mcp"),
    ):
        if path.startswith(prefix):
            return group
    if path in ("/info", "/openapi.json", "/metrics", "/docs"):
        return "meta"
    return "other"


def filter_routes(routes: Sequence[BaseRoute], config: HttpConfig | None) -> list[BaseRoute]:
    """The API routes left after the ``disable_*`` options."""
    if config is None:
        return list(routes)
    disabled = {
        group
        for group in ("assistants", "threads", "runs", "store", "meta", "mcp")
        if getattr(config, f"disable_{group}")
    }
    kept = []
    for route in routes:
        path = getattr(route, "path", "")
        if isinstance(route, Route | WebSocketRoute) and _group(path) in disabled:
            continue
        kept.append(route)
    return kept


def user_app(config: HttpConfig | None) -> Any:
    if config is None or config.app is None:
        return None
    target, _ = import_target(config.app, config.base_dir)
    if not callable(target):
        raise GraphLoadError(config.app, "http.app must be an ASGI app (Starlette, FastAPI)")
    return target


class _UserRoutesFirst:
    """Sends a request to the user's app when one of its routes matches it."""

    def __init__(self, app: ASGIApp, user: Any) -> None:
        self.app = app
        self.user = user

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            for route in getattr(self.user, "routes", ()):
                if route.matches(scope)[0] == Match.FULL:
                    # Behind the gate (enable_custom_route_auth) the user's routes need
                    # an authenticated user, not a LangGraph resource action; they see
                    # it as ``request.user``. In front of it, this is a no-op.
                    allow_authenticated(HTTPConnection(scope))
                    user = current_user(HTTPConnection(scope))
                    if user is not None:
                        scope = {**scope, "user": user}
                    await self.user(scope, receive, send)
                    return
        await self.app(scope, receive, send)


class _Prefix:
    """Serves everything under ``prefix`` (``root_path`` tells apps where they are)."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            path: str = scope["path"]
            if path != self.prefix and not path.startswith(self.prefix + "/"):
                if scope["type"] == "http":
                    body = b'{"detail":"not found: this server is mounted at ' + (
                        self.prefix.encode() + b'","code":"not_found"}'
                    )
                    await send({"type": "http.response.start", "status": 404,
                                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
                    await send({"type": "http.response.body", "body": body})
                return
            scope = {
                **scope,
                "path": path[len(self.prefix) :] or "/",
                "root_path": scope.get("root_path", "") + self.prefix,
            }
        await self.app(scope, receive, send)


def middleware(config: HttpConfig | None, user: Any, api: list[Middleware]) -> list[Middleware]:
    """Outermost first: the prefix, CORS, then the user's routes, before the API's
    own middleware ``api`` (CORS settings, authentication) unless
    ``enable_custom_route_auth`` puts them behind it."""
    if config is None:
        return api
    stack: list[Middleware] = []
    if config.mount_prefix:
        stack.append(Middleware(_Prefix, prefix=config.mount_prefix))
    if config.cors is not None:
        cors = config.cors
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=cors.allow_origins,
                allow_origin_regex=cors.allow_origin_regex,
                allow_methods=cors.allow_methods,
                allow_headers=cors.allow_headers,
                allow_credentials=cors.allow_credentials,
                expose_headers=cors.expose_headers,
                max_age=cors.max_age,
            )
        )
    user_routes = [Middleware(_UserRoutesFirst, user=user)] if user is not None else []
    if config.enable_custom_route_auth:
        return [*stack, *api, *user_routes]
    return [*stack, *user_routes, *api]


def user_lifespan(user: Any) -> AbstractAsyncContextManager[Any]:
    """The user app's lifespan (Starlette/FastAPI), entered with the server's."""
    router = getattr(user, "router", None)
    context = getattr(router, "lifespan_context", None)
    if context is None:
        return nullcontext()

    @asynccontextmanager
    async def entered() -> AsyncIterator[None]:
        async with context(user):
            yield

    return entered()
