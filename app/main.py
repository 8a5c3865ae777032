"""The ASGI application: ``create_app(settings)`` builds everything.

Startup order (the lifespan): open storage → build the graph registry with
the storage's checkpointer → compile every graph once → start the run
manager. ``/ok`` answers only after all of that, and a graph that fails to
load stops startup with its spec and reason (unless ``skip_broken``).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from app.coordinator import LocalCoordinator
from app.endpoints import assistants, batch, playground, rules, runs, system, threads, ws
from app.endpoints.http import JSONResponse
from app.errors import SwitchyardError
from app.events.factory import make_event_log
from app.observability.middleware import ObservabilityMiddleware
from app.observability.setup import Observability, serve_metrics
from app.runs.manager import RunManager
from app.runs.resolver import AssistantResolver
from app.services import Services
from app.settings import Settings
from app.store import open_storage
from app.transport.sse_response import OpenStreams
from graphs.models import make_chat_model, model_label
from graphs.registry import GraphRegistry
from routers.config import build_router
from routers.hybrid import HybridRouter

if TYPE_CHECKING:
    from app.redis_client import SharedRedis

__all__ = ["create_app"]

log = logging.getLogger("switchyard")

AUTO_GRAPH = "auto"


def routes() -> list[BaseRoute]:
    thread_run = "/threads/{thread_id}/runs/{run_id}"
    return [
        Route("/ok", system.ok, methods=["GET"]),
        Route("/info", system.info, methods=["GET"]),
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
        Route("/threads/{thread_id}/runs", runs.list_runs, methods=["GET"]),
        Route("/threads/{thread_id}/runs", runs.create_background, methods=["POST"]),
        Route("/threads/{thread_id}/runs/stream", runs.create_stream, methods=["POST"]),
        Route("/threads/{thread_id}/runs/wait", runs.create_wait, methods=["POST"]),
        Route(thread_run, runs.get, methods=["GET"]),
        Route(thread_run, runs.delete, methods=["DELETE"]),
        Route(thread_run + "/join", runs.join, methods=["GET"]),
        Route(thread_run + "/stream", runs.join_stream, methods=["GET"]),
        Route(thread_run + "/cancel", runs.cancel, methods=["POST"]),
        Route("/runs", runs.create_background, methods=["POST"]),
        Route("/runs/stream", runs.create_stream, methods=["POST"]),
        Route("/runs/wait", runs.create_wait, methods=["POST"]),
        Route("/rules/reload", rules.reload_rules, methods=["POST"]),
        *playground.routes(),
        WebSocketRoute("/ws", ws.endpoint),
        Route("/runs/batch", batch.create, methods=["POST"]),
        Route("/runs/batch/wait", batch.wait, methods=["POST"]),
        Route("/runs/batch/stream", batch.stream, methods=["POST"]),
    ]


async def _switchyard_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SwitchyardError)
    return JSONResponse(exc.to_body(), status_code=exc.status_code)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail
    if exc.status_code == 404:
        detail = f"no route for {request.method} {request.url.path}"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)


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
    targets = {g: registry.description(g) for g in registry.ids() if g != AUTO_GRAPH}
    router_settings = settings.router_settings()
    http_client = None
    if router_settings.llm_enabled:
        fallback = router_settings.fallback_provider
        providers = [*router_settings.providers, *([fallback] if fallback else [])]
        http_client = obs.llm_client(
            {p.base_url: p.name for p in providers}, timeout_s=router_settings.timeout_s
        )
    return build_router(
        router_settings, targets, http_client=http_client, on_retry=obs.on_llm_retry
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


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    # Built with the app, not in the lifespan: a caller (a test) may add a
    # span exporter to ``app.state.observability.tracing`` before it starts.
    obs = Observability.build(settings.metrics, settings.traces)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        async with (
            open_storage(settings.storage, settings.sqlite_file, settings.postgres) as opened,
            _shared_redis(settings) as redis,
        ):
            storage = obs.storage(opened, settings.storage.backend)
            deps = _graph_deps(settings, obs)
            registry = GraphRegistry.from_config_files(
                _config_files(settings), checkpointer=storage.checkpointer, deps=deps
            )
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
            obs.count_appends(events)
            resolver = AssistantResolver(registry)
            streams = OpenStreams(metrics=obs.streams["sse"])
            coordinator = LocalCoordinator(max_concurrency=settings.runs.max_concurrency)
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
            app.state.services = Services(
                settings=settings,
                storage=storage,
                registry=registry,
                events=events,
                runs=manager,
                assistants=resolver,
                streams=streams,
                router=hybrid_router,
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
            try:
                yield
            finally:
                gc.set_threshold(*interpreter_threshold)
                stream_watch.cancel()
                await manager.shutdown()
                await coordinator.close()
                if hybrid_router is not None:
                    await hybrid_router.aclose()
                await obs.aclose()

    app = Starlette(
        routes=routes(),
        lifespan=lifespan,
        middleware=[Middleware(ObservabilityMiddleware, tracing=obs.tracing)],
        exception_handlers={
            SwitchyardError: _switchyard_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )
    app.state.observability = obs
    app.state.metrics_guard = obs.guard  # the auth gate may replace it
    return app
