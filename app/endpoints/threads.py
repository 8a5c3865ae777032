"""Threads: CRUD, search, state, history, copy."""

from __future__ import annotations

import uuid
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.errors import InvalidUpdateError
from langgraph.pregel import Pregel
from starlette.requests import Request
from starlette.responses import Response

from app.auth.access import as_id, authorize
from app.endpoints import thread_lifecycle
from app.endpoints.http import (
    JSONResponse,
    parse_body,
    query_bool,
    query_int,
    query_list,
    thread_id_param,
)
from app.endpoints.scoped import thread_for
from app.endpoints.select import pick, pick_state
from app.errors import CheckpointNotFound, InvalidInput, ThreadExists
from app.flows.versions import thread_graph_pin
from app.runs.snapshots import checkpoint_json, copy_checkpoints, empty_state, snapshot_json
from app.schemas import (
    CheckpointBody,
    ThreadCount,
    ThreadCreate,
    ThreadHistory,
    ThreadPatch,
    ThreadSearch,
    ThreadStateAt,
    ThreadStateUpdate,
    check_state_select,
)
from app.services import Services, services_of
from app.store.base import Thread


async def _thread_graph(services: Services, thread: Thread) -> Pregel[Any, Any, Any, Any] | None:
    """The graph whose channels interpret this thread's checkpoints, if any."""
    graph_id = thread.metadata.get("graph_id")
    if not isinstance(graph_id, str) or graph_id not in services.registry.ids():
        return None
    # A flow thread is read with the version (and params) that wrote it.
    pin = await thread_graph_pin(
        services.registry, services.storage.checkpointer, graph_id, thread.thread_id
    )
    return await services.registry.get(graph_id, params=pin.params, version=pin.version)


def _config(
    thread_id: str, checkpoint: CheckpointBody | None = None, **extra: Any
) -> RunnableConfig:
    configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint is not None:
        configurable.update(checkpoint.model_dump(exclude_none=True, exclude={"thread_id"}))
    configurable.update({k: v for k, v in extra.items() if v is not None})
    return {"configurable": configurable}


async def create(request: Request) -> Response:
    services = services_of(request)
    body = await parse_body(request, ThreadCreate, empty_ok=True)
    thread_id = body.thread_id or str(uuid.uuid4())
    value: dict[str, Any] = {
        "thread_id": as_id(thread_id),
        "metadata": dict(body.metadata),
        "if_exists": body.if_exists,
    }
    filters = await authorize(request, "threads", "create", value)
    metadata = dict(value.get("metadata") or {})
    if body.graph_id:
        services.assistants.resolve(body.graph_id)
        metadata["graph_id"] = body.graph_id
    try:
        thread = await services.storage.threads.create(
            Thread(thread_id=thread_id, metadata=metadata)
        )
    except ThreadExists:
        if body.if_exists != "do_nothing":
            raise
        existing = await services.storage.threads.get(thread_id, filters=filters)
        if existing is None:  # another user's id: not theirs to have back
            raise
        return JSONResponse(existing.to_json())
    await thread_lifecycle.set_ttl(services, thread_id, body.ttl)
    if body.supersteps:
        await thread_lifecycle.apply_supersteps(services, thread, body.supersteps)
        thread = await services.storage.threads.get(thread_id) or thread
    return JSONResponse(thread.to_json())


async def search(request: Request) -> Response:
    body = await parse_body(request, ThreadSearch, empty_ok=True)
    value: dict[str, Any] = body.model_dump(exclude_none=True, exclude={"select"})
    filters = await authorize(request, "threads", "search", value)
    threads = await services_of(request).storage.threads.search(
        metadata=body.metadata,
        values=body.values,
        status=body.status,
        ids=body.ids,
        limit=body.limit,
        offset=body.offset,
        sort_by=body.sort_by,
        sort_order=body.sort_order,
        filters=filters,
    )
    return JSONResponse([pick(t.to_json(), body.select) for t in threads])


async def count(request: Request) -> Response:
    body = await parse_body(request, ThreadCount, empty_ok=True)
    filters = await authorize(request, "threads", "search", body.model_dump(exclude_none=True))
    total = await services_of(request).storage.threads.count(
        metadata=body.metadata, status=body.status, filters=filters
    )
    return JSONResponse(total)


async def get(request: Request) -> Response:
    thread, _ = await thread_for(request, "read")
    return JSONResponse(await thread_lifecycle.with_ttl(services_of(request), request, thread))


async def patch(request: Request) -> Response:
    services = services_of(request)
    thread_id = thread_id_param(request)
    body = await parse_body(request, ThreadPatch)
    value: dict[str, Any] = {"thread_id": as_id(thread_id), "metadata": dict(body.metadata)}
    filters = await authorize(request, "threads", "update", value)
    thread = await services.storage.threads.update(
        thread_id, metadata=value.get("metadata") or {}, filters=filters
    )
    await thread_lifecycle.set_ttl(services, thread_id, body.ttl)
    return JSONResponse(thread.to_json())


async def delete(request: Request) -> Response:
    services = services_of(request)
    thread, _ = await thread_for(request, "delete")
    await services.platform.purger.delete_thread(thread.thread_id)  # the run cascade + its TTL
    return Response(status_code=204)


async def get_state(request: Request) -> Response:
    services = services_of(request)
    thread, _ = await thread_for(request, "read")
    try:
        select = check_state_select(query_list(request, "select"))
    except ValueError as exc:
        raise InvalidInput(f"select: {exc}") from None
    checkpoint = CheckpointBody(checkpoint_id=request.path_params.get("checkpoint_id"))
    state = await _state(services, thread, checkpoint, subgraphs=query_bool(request, "subgraphs"))
    return JSONResponse(pick_state(state, select))


async def get_state_at(request: Request) -> Response:
    services = services_of(request)
    body = await parse_body(request, ThreadStateAt)
    thread, _ = await thread_for(request, "read")
    state = await _state(services, thread, body.checkpoint, subgraphs=body.subgraphs)
    return JSONResponse(pick_state(state, body.select))


async def _state(
    services: Services, thread: Thread, checkpoint: CheckpointBody, *, subgraphs: bool
) -> dict[str, Any]:
    """The thread's state, at ``checkpoint`` when it names one (404 if it has no such one)."""
    graph = await _thread_graph(services, thread)
    config = _config(thread.thread_id, checkpoint)
    if checkpoint.checkpoint_id is not None:
        saver = graph.checkpointer if graph is not None else None
        found = await saver.aget_tuple(config) if isinstance(saver, BaseCheckpointSaver) else None
        if found is None:
            ns = checkpoint.checkpoint_ns
            raise CheckpointNotFound(
                f"thread {thread.thread_id} has no checkpoint {checkpoint.checkpoint_id!r}"
                + (f" in namespace {ns!r}" if ns else "")
            )
    if graph is None:
        return empty_state(thread.thread_id)
    return snapshot_json(await graph.aget_state(config, subgraphs=subgraphs))


async def update_state(request: Request) -> Response:
    services = services_of(request)
    body = await parse_body(request, ThreadStateUpdate)
    thread, filters = await thread_for(request, "update")
    graph = await _thread_graph(services, thread)
    if graph is None:
        raise InvalidInput(
            f"thread {thread.thread_id} has no graph yet; run it once (or create it with "
            "graph_id) before updating its state"
        )
    nodes = [n for n in graph.nodes if n != "__start__"]
    if body.as_node is not None and body.as_node not in (*nodes, "__input__", "__copy__"):
        raise InvalidInput(
            f"as_node {body.as_node!r} is not a node of graph {thread.metadata['graph_id']!r}; "
            f"use one of {nodes}"
        )
    config = _config(thread.thread_id, body.checkpoint, checkpoint_id=body.checkpoint_id)
    try:
        new_config = await graph.aupdate_state(config, body.values, as_node=body.as_node)
    except (InvalidUpdateError, ValueError, KeyError, TypeError) as exc:
        # The update is applied through the graph's reducers: a value of the
        # wrong type for a channel (5 for a list that ``operator.add`` extends)
        # fails there, and that is the request's fault.
        raise InvalidInput(f"cannot update state: {type(exc).__name__}: {exc}") from None
    snapshot = await graph.aget_state({"configurable": {"thread_id": thread.thread_id}})
    await services.storage.threads.update(
        thread.thread_id, values=snapshot_json(snapshot)["values"], filters=filters
    )
    return JSONResponse({"checkpoint": checkpoint_json(new_config)})


async def history(request: Request) -> Response:
    services = services_of(request)
    thread, _ = await thread_for(request, "read")
    if request.method == "GET":
        body = ThreadHistory(
            limit=query_int(request, "limit", 10, low=1, high=1000),
            before=request.query_params.get("before"),
        )
    else:
        body = await parse_body(request, ThreadHistory, empty_ok=True)
    graph = await _thread_graph(services, thread)
    if graph is None:
        return JSONResponse([])
    before: RunnableConfig | None = None
    if isinstance(body.before, str):
        before = _config(thread.thread_id, checkpoint_id=body.before)
    elif body.before is not None:
        before = _config(thread.thread_id, body.before)
    states = [
        pick_state(snapshot_json(s), body.select)
        async for s in graph.aget_state_history(
            _config(thread.thread_id, body.checkpoint),
            filter=body.metadata,
            before=before,
            limit=body.limit,
        )
    ]
    return JSONResponse(states)


async def copy(request: Request) -> Response:
    services = services_of(request)
    source, _ = await thread_for(request, "read")
    # The copy is a new thread: creating it is authorized like any other.
    target_id = str(uuid.uuid4())
    value: dict[str, Any] = {"thread_id": as_id(target_id), "metadata": dict(source.metadata)}
    await authorize(request, "threads", "create", value)
    target = await services.storage.threads.create(
        Thread(
            thread_id=target_id, metadata=dict(value.get("metadata") or {}), values=source.values
        )
    )
    await copy_checkpoints(services.storage.checkpointer, source.thread_id, target.thread_id)
    return JSONResponse(target.to_json())
