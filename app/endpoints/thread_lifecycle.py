"""Thread lifecycle over HTTP: TTL on create/update, ``?include=ttl``, supersteps
on create, and ``POST /threads/prune``."""

from __future__ import annotations

from typing import Any

from langgraph.types import StateUpdate
from starlette.requests import Request
from starlette.responses import Response

from app.auth.access import allow_authenticated, as_id, authorize
from app.endpoints.http import JSONResponse, parse_body
from app.errors import InvalidInput
from app.platform.schemas import ThreadPrune
from app.runs.execution import build_input
from app.schemas import RunCreate, Superstep, ThreadTTL
from app.services import Services, services_of
from app.store.base import Thread, utcnow
from app.store.thread_ttl import ThreadTTL as TTLRecord

__all__ = ["apply_supersteps", "prune", "set_ttl", "with_ttl"]


async def set_ttl(services: Services, thread_id: str, ttl: ThreadTTL | None) -> None:
    """Arm the thread's TTL, ``ttl`` minutes from now (threads without one fall
    under the default TTL setting, which the sweeper applies by idle time)."""
    if ttl is None:
        return
    record = TTLRecord.starting(thread_id, ttl.strategy, ttl.ttl, utcnow())
    await services.storage.thread_ttls.set(record)


async def with_ttl(services: Services, request: Request, thread: Thread) -> dict[str, Any]:
    """The thread as JSON, with ``ttl`` when ``?include=ttl`` asks for it."""
    body = thread.to_json()
    include = {part.strip() for part in request.query_params.get("include", "").split(",")}
    unknown = include - {"", "ttl"}
    if unknown:
        raise InvalidInput(f"include: unknown {sorted(unknown)}; supported: ['ttl']")
    if "ttl" in include:
        record = await services.storage.thread_ttls.get(thread.thread_id)
        body["ttl"] = None if record is None else record.to_json()
    return body


async def apply_supersteps(services: Services, thread: Thread, steps: list[Superstep]) -> None:
    """Write ``steps`` as the thread's first checkpoints (``bulk_update_state``),
    the way LangGraph Server seeds a thread's history on create."""
    graph_id = thread.metadata.get("graph_id")
    if not isinstance(graph_id, str) or graph_id not in services.registry.ids():
        raise InvalidInput("supersteps need the thread's graph: create it with 'graph_id'")
    graph = await services.registry.get(graph_id)
    supersteps = []
    for step in steps:
        updates = []
        for update in step.updates:
            values: Any = update.values
            if update.command is not None:
                body = RunCreate(assistant_id=graph_id, command=update.command)
                values = build_input(body)
            updates.append(StateUpdate(values, update.as_node))
        supersteps.append(updates)
    config: Any = {"configurable": {"thread_id": thread.thread_id, "checkpoint_ns": ""}}
    try:
        await graph.abulk_update_state(config, supersteps)
    except (ValueError, KeyError) as exc:
        raise InvalidInput(f"supersteps: {exc}") from None
    state = await graph.aget_state(config)
    await services.storage.threads.update(thread.thread_id, values=dict(state.values))


async def prune(request: Request) -> Response:
    services = services_of(request)
    body = await parse_body(request, ThreadPrune)
    allow_authenticated(request)  # per thread below: only the caller's are pruned
    pruned = 0
    for thread_id in dict.fromkeys(body.thread_ids):
        # Only threads the caller may delete: another user's id counts as unknown.
        filters = await authorize(request, "threads", "delete", {"thread_id": as_id(thread_id)})
        if await services.storage.threads.get(thread_id, filters=filters) is None:
            continue
        pruned += await services.platform.purger.prune(thread_id, body.strategy)
    return JSONResponse({"pruned_count": pruned})
