"""The ASGI application: ``create_app(settings)`` builds everything.

Startup order (the lifespan): open storage → build the graph registry with
the storage's checkpointer → compile every graph once → start the run
manager. ``/ok`` answers only after all of that, and a graph that fails to
load stops startup with one message naming every broken spec and its reason
(unless ``skip_broken``: then ``auto`` routes among the graphs that loaded).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from app.auth.gate import AuthGate, build_gate
from app.auth.log_redaction import redact_access_log
from app.auth.middleware import AuthMiddleware
from app.coordinator import Coordinator, LocalCoordinator
from app.endpoints import (
    assistants,
    batch,
    flows,
    mcp,
    openapi,
    playground,
    rules,
    runs,
    stream_tokens,
    system,
    thread_stream,
    threads,
    ws,
)
from app.endpoints.http import JSONResponse, http_error_response
from app.endpoints.platform_routes import platform_routes
from app.errors import InvalidInput, SwitchyardError
from app.events.factory import make_event_log
from app.flows.peers import flow_peers
from app.flows.routing import AUTO_GRAPH, FlowRouting, router_examples, router_targets
from app.flows.service import FlowService
from app.mcp.registry import McpRegistry
from app.mcp.server import McpEndpoint
from app.observability.endpoint import metrics_public_paths
from app.observability.middleware import ObservabilityMiddleware
from app.observability.setup import Observability, serve_metrics
from app.platform import custom_routes
from app.platform.lifespan import start_platform
from app.runs.manager import RunManager
from app.runs.resolver import AssistantResolver
from app.services import Services
from app.settings import Settings
from app.startup_errors import ReadableStartupFailure
from app.store import Storage, open_storage
from app.store.longterm import open_longterm_store
from app.transport.sse_response import OpenStreams
from graphs.flows.components.catalog import ComponentCatalog
from graphs.flows.params import FlowParamsError
from graphs.models import make_chat_model, model_label
from graphs.registry import GraphRegistry
from routers.config import build_router
from routers.hybrid import HybridRouter

if TYPE_CHECKING:
    from app.redis_client import SharedRedis

__all__ = ["create_app"]

log = logging.getLogger("switchyard")


def routes() -> list[BaseRoute]:
    thread_run = "/threads/{thread_id}/runs/{run_id}"
    return [
        Route("/ok", system.ok, methods=["GET"]),
        Route("/info", system.info, methods=["GET"]),
        Route("/openapi.json", openapi.document, methods=["GET"]),
        Route("/metrics", serve_metrics, methods=["GET"]),
        Route("/assistants/search", assistants.search, methods=["POST"]),
        Route("/assistants/count", assistants.count, methods=["POST"]),
        Route("/assistants/{assistant_id}", assistants.get, methods=["GET"]),
        Route("/assistants/{assistant_id}/graph", assistants.graph, methods=["GET"]),
        Route("/assistants/{assistant_id}/schemas", assistants.schemas, methods=["GET"]),
        Route("/threads", threads.create, methods=["POST"]),
        Route("/threads/search", threads.search, methods=["POST"]),
        Route("/threads/count", threads.count, methods=["POST"]),
        Route("/threads/{thread_id}", threads.get, methods=["GET"]),
        Route("/threads/{thread_id}", threads.patch, methods=["PATCH"]),
        Route("/threads/{thread_id}", threads.delete, methods=["DELETE"]),
        Route("/threads/{thread_id}/state", threads.get_state, methods=["GET"]),
        Route("/threads/{thread_id}/state", threads.update_state, methods=["POST"]),
        Route("/threads/{thread_id}/state/checkpoint", threads.get_state_at, methods=["POST"]),
        Route("/threads/{thread_id}/state/{checkpoint_id}", threads.get_state, methods=["GET"]),
        Route("/threads/{thread_id}/history", threads.history, methods=["GET", "POST"]),
        Route("/threads/{thread_id}/copy", threads.copy, methods=["POST"]),
        Route("/threads/{thread_id}/stream", thread_stream.join, methods=["GET"]),
        Route("/threads/{thread_id}/commands", thread_stream.commands, methods=["POST"]),
        Route("/threads/{thread_id}/stream/events", thread_stream.stream_events, methods=["POST"]),
        WebSocketRoute("/threads/{thread_id}/stream/events", thread_stream.stream_events_ws),
        Route("/threads/{thread_id}/runs", runs.list_runs, methods=["GET"]),
        Route("/threads/{thread_id}/runs", runs.create_background, methods=["POST"]),
        Route("/threads/{thread_id}/runs/stream", runs.create_stream, methods=["POST"]),
        Route("/threads/{thread_id}/runs/wait", runs.create_wait, methods=["POST"]),
        Route(thread_run, runs.get, methods=["GET"]),
        Route(thread_run, runs.delete, methods=["DELETE"]),
        Route(thread_run + "/join", runs.join, methods=["GET"]),
        Route(thread_run + "/stream", runs.join_stream, methods=["GET"]),
        Route(thread_run + "/cancel", runs.cancel, methods=["POST"]),
        Route(thread_run + "/stream-token", stream_tokens.issue, methods=["POST"]),
        Route("/runs", runs.create_background, methods=["POST"]),
        Route("/runs/cancel", runs.cancel_many_runs, methods=["POST"]),
        Route("/runs/stream", runs.create_stream, methods=["POST"]),
        Route("/runs/wait", runs.create_wait, methods=["POST"]),
        Route("/rules", rules.list_rules, methods=["GET"]),
        Route("/rules/reload", rules.reload_rules, methods=["POST"]),
        *platform_routes(),
        *playground.routes(),
        WebSocketRoute("/ws", ws.endpoint),
        Route("/runs/batch", batch.create, methods=["POST"]),
        Route("/runs/batch/wait", batch.wait, methods=["POST"]),
        Route("/runs/batch/stream", batch.stream, methods=["POST"]),
        *flows.routes(),
        *mcp.routes(),
    ]


async def _switchyard_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SwitchyardError)
    return JSONResponse(exc.to_body(), status_code=exc.http_status, headers=exc.headers)


async def _flow_params_error(request: Request, exc: Exception) -> Response:
    # A template flow read without the params it needs (e.g. a thread's state).
    return await _switchyard_error(request, InvalidInput(str(exc)))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return http_error_response(request, exc)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(
        {"detail": f"internal error: {type(exc).__name__}", "code": "internal"}, status_code=500
    )


def _graph_deps(settings: Settings, obs: Observability) -> dict[str, Any]:
    """What graph factories may ask for by parameter name."""
    llm = settings.llm
    on_retry = obs.on_llm_retry
    model = make_chat_model(
        base_url=llm.base_url,
        api_key=llm.api_key.get_secret_value() if llm.api_key else None,
        model=llm.model,
        timeout_s=llm.timeout_s,
        max_retries=llm.max_retries,
        # Observed: calls, failures and retries per provider, spans, traceparent.
        http_client=(
            obs.llm_client({llm.base_url: "default"}, timeout_s=llm.timeout_s)
            if llm.base_url
            else None
        ),
        on_retry=lambda: on_retry("default"),
    )
    return {"model": model, "outbox": settings.data_dir / "outbox"}


def _build_router(
    settings: Settings, registry: GraphRegistry, obs: Observability
) -> HybridRouter | None:
    """The router over every graph but ``auto``; None when ``auto`` is not served."""
    if AUTO_GRAPH not in registry.ids():
        return None
    router_settings = settings.router_settings()
    http_client = None
    if router_settings.llm_enabled:
        fallback = router_settings.fallback_provider
        providers = [*router_settings.providers, *([fallback] if fallback else [])]
        http_client = obs.llm_client(
            {p.base_url: p.name for p in providers}, timeout_s=router_settings.timeout_s
        )
    return build_router(
        router_settings,
        router_targets(registry),
        examples=router_examples(registry),
        http_client=http_client,
        on_retry=obs.on_llm_retry,
    )


def _config_files(settings: Settings) -> list[Path]:
    files = [GraphRegistry.builtin_config()] if settings.builtins else []
    if settings.graphs is not None:
        files.append(settings.graphs)
    return files


@asynccontextmanager
async def _shared_redis(settings: Settings) -> AsyncIterator[SharedRedis | None]:
    """The process's Redis client when ``SWITCHYARD_REDIS_URL`` is set, else None."""
    if settings.redis.url is None:
        yield None
        return
    from app.redis_client import open_redis  # the optional ``distributed`` extra

    async with open_redis(settings.redis) as shared:
        yield shared


def _middleware(settings: Settings, gate: AuthGate) -> list[Middleware]:
    """CORS outermost (preflights carry no credentials; 401s need CORS headers), then auth.
    (``ReadableStartupFailure`` only sees the lifespan.)"""
    stack = [Middleware(ReadableStartupFailure)]
    cors = settings.cors
    if cors.allow_origins:
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=cors.allow_origins,
                allow_credentials=cors.allow_credentials,
                allow_methods=cors.allow_methods,
                allow_headers=cors.allow_headers,
                expose_headers=cors.expose_headers,
                max_age=cors.max_age_s,
            )
        )
    stack.append(Middleware(AuthMiddleware, gate=gate))
    return stack


def _log_auth(gate: AuthGate) -> None:
    if gate.enabled:
        log.info("authentication: %s", gate.describe())
    else:
        log.warning(
            "authentication is OFF: the server is open to anyone who can reach it "
            "(set SWITCHYARD_AUTH_API_KEYS, SWITCHYARD_AUTH_JWT_* or an auth entry in "
            "langgraph.json)"
        )


async def _coordinator(
    settings: Settings, storage: Storage, redis: SharedRedis | None
) -> Coordinator:
    """Distributed when runs are shared (Postgres storage and Redis), else in-process."""
    if storage.postgres is None or redis is None:
        return LocalCoordinator(max_concurrency=settings.runs.max_concurrency)
    from app.coordinator.distributed import DistributedCoordinator

    coordinator = DistributedCoordinator(
        pool=storage.postgres.pool,
        redis=redis,
        max_concurrency=settings.runs.max_concurrency,
        lease_s=settings.runs.lease_s,
    )
    await coordinator.start()
    return coordinator


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    # Built before serving: a broken auth.py or key stops startup, like a graph.
    gate = build_gate(settings.auth, settings.graphs)
    # /metrics public, or behind its own scrape token: the gate lets it pass.
    gate.public_paths |= metrics_public_paths(settings.metrics)
    # langgraph.json's "http" section: custom routes, disable_*, cors, mount_prefix.
    http = custom_routes.load_http_config(settings.graphs)
    user = custom_routes.user_app(http)
    if http is not None and http.disable_webhooks:
        settings.webhooks.enabled = False
    # Built with the app, not in the lifespan: a caller (a test) may add a
    # span exporter to ``app.state.observability.tracing`` before it starts.
    obs = Observability.build(settings.metrics, settings.traces)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        redact_access_log()
        _log_auth(gate)
        async with (
            open_storage(settings.storage, settings.sqlite_file, settings.postgres) as opened,
            _shared_redis(settings) as redis,
            open_longterm_store(settings, opened.postgres) as store,
            contextlib.AsyncExitStack() as stack,
        ):
            storage = obs.storage(opened, settings.storage.backend)
            deps = _graph_deps(settings, obs)
            # MCP tools: flows call them by name; factories may ask for `mcp_tools`.
            mcp_registry = McpRegistry(settings.mcp.servers)
            deps.update(mcp=mcp_registry, mcp_tools=mcp_registry.langchain_tools)
            components = ComponentCatalog.discover(
                specs=settings.flows.components, function_modules=settings.flows.function_modules
            )
            registry = GraphRegistry.from_config_files(
                _config_files(settings),
                checkpointer=storage.checkpointer,
                deps=deps,
                components=components,
                store=store,
            )
            flow_service = FlowService(storage.flows, registry)
            await flow_service.load(settings.flows.files)  # before the router: flows are targets
            hybrid_router = _build_router(settings, registry, obs)
            # The auto graph sees the router through its observer (metrics, span).
            registry.provide(router=obs.router(hybrid_router) if hybrid_router else None)
            await registry.load_all(skip_broken=settings.skip_broken)
            if settings.gc_freeze:
                # Compiled graphs, modules and settings live as long as the
                # process: out of the collector's generations, collections that
                # per-run garbage triggers stop rescanning them (measured: +20%
                # runs/s at 50-100 clients, batch 0.68x -> 0.84x of in-process).
                gc.collect()
                gc.freeze()
            events = make_event_log(settings.events, redis)
            obs.count_appends(events, remote="redis" if redis is not None else None)
            resolver = AssistantResolver(registry, storage.assistants)
            await resolver.sync_system()
            flow_service.listen(resolver.sync_system)  # flows are assistants too
            flow_service.listen(FlowRouting(registry, hybrid_router).sync)  # and router targets
            streams = OpenStreams(metrics=obs.streams["sse"])
            coordinator = await _coordinator(settings, storage, redis)
            # Distributed: flows changed on a peer are served here at once.
            signals = getattr(coordinator, "signals", None)
            await stack.enter_async_context(flow_peers(signals, flow_service))
            manager = RunManager(
                settings=settings.runs,
                storage=storage,
                registry=registry,
                events=events,
                assistants=resolver,
                coordinator=coordinator,
                model_label=model_label(deps["model"]),
                observer=obs.runs,
            )
            await stack.enter_async_context(custom_routes.user_lifespan(user))
            platform = await stack.enter_async_context(
                start_platform(
                    settings, storage=storage, runs=manager, assistants=resolver, store=store
                )
            )
            obs.platform(platform)
            app.state.services = Services(
                settings=settings,
                storage=storage,
                registry=registry,
                events=events,
                runs=manager,
                assistants=resolver,
                streams=streams,
                platform=platform,
                router=hybrid_router,
                flows=flow_service,
                mcp=mcp_registry,
                mcp_endpoint=McpEndpoint(registry, manager) if settings.mcp.serve else None,
                observability=obs,
            )
            # A run allocates thousands of containers (LangGraph's tasks,
            # configs, writes); at Python's 700 the collector runs several times
            # per run, and its older generations rescan every live run and
            # retained event log. Reference counting frees all but cycles at
            # once, so collecting less often only delays freeing cycles.
            interpreter_threshold = gc.get_threshold()  # given back on the way out
            gc.set_threshold(settings.gc_threshold, *interpreter_threshold[1:])
            stream_watch = asyncio.create_task(streams.watch(), name="sse-watch")
            # Runs a dead predecessor (or, distributed, a dead peer) left behind.
            adopted = await manager.recover()
            if adopted:
                log.warning("took over %d runs left behind: %s", len(adopted), adopted)
            recovery = (
                asyncio.create_task(manager.recover_forever(settings.runs.lease_s / 2))
                if not isinstance(coordinator, LocalCoordinator)
                else None
            )
            mcp_endpoint = app.state.services.mcp_endpoint
            try:
                async with mcp_endpoint.running() if mcp_endpoint else contextlib.nullcontext():
                    yield
            finally:
                await mcp_registry.aclose()
                gc.set_threshold(*interpreter_threshold)
                stream_watch.cancel()
                await stack.aclose()  # the platform first: no cron may start a run now
                if recovery is not None:
                    recovery.cancel()
                await manager.shutdown()
                await coordinator.close()
                await gate.aclose()
                if hybrid_router is not None:
                    await hybrid_router.aclose()
                await obs.aclose()

    # Observability outermost: every request gets its id and span, refusals included.
    app = Starlette(
        routes=custom_routes.filter_routes(routes(), http),
        lifespan=lifespan,
        middleware=[
            Middleware(ObservabilityMiddleware, tracing=obs.tracing),
            *custom_routes.middleware(http, user, _middleware(settings, gate)),
        ],
        exception_handlers={
            SwitchyardError: _switchyard_error,
            FlowParamsError: _flow_params_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )
    app.state.observability = obs
    return app
