"""Thread-protocol commands: ``{"id", "method", "params"}`` in, an envelope out.

``POST /threads/{id}/commands`` and the WebSocket both run commands here:
``run.start``, ``input.respond``, ``state.fork`` (``app.transport.threads
.starts``), ``agent.getTree``, ``state.get`` and ``state.listCheckpoints``.
The subscription commands belong to a WebSocket session (it holds the
subscriptions); over plain HTTP they answer ``not_supported`` (an SSE client
filters its ``POST .../stream/events`` body instead). ``input.inject`` is
not supported.

Answers: ``{"type": "success", "id", "result"}``, or ``{"type": "error",
"id", "error": <code>, "message"}``. Over HTTP an error also has a 4xx
status and the house's ``detail``/``code`` (see ``docs/api.md``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import HTTPConnection

from app import serde
from app.endpoints.http import describe_validation_error
from app.errors import EventsExpired, RunNotFound
from app.flows.versions import thread_graph_pin
from app.services import Services
from app.store.base import Run
from app.transport.resume import resume
from app.transport.threads.frames import RunFramer
from app.transport.threads.starts import CommandFailed, fork, respond, start
from app.transport.threads.stream import graph_name

__all__ = ["Command", "CommandFailed", "error_envelope", "parse_command", "run_command"]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int = Field(ge=0)
    method: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)


def parse_command(data: Any) -> Command:
    if not isinstance(data, dict):
        raise CommandFailed("invalid_argument", "a command is a JSON object {id, method, params}")
    try:
        return Command.model_validate(data)
    except ValidationError as exc:
        raise CommandFailed("invalid_argument", describe_validation_error(exc)) from None


def success_envelope(command_id: int, result: Any) -> dict[str, Any]:
    return {"type": "success", "id": command_id, "result": result}


def error_envelope(command_id: int | None, failure: CommandFailed) -> dict[str, Any]:
    return {"type": "error", "id": command_id, "error": failure.code, "message": failure.message}


async def _runs(services: Services, thread_id: str) -> list[Run]:
    return list(reversed(await services.storage.runs.for_thread(thread_id, limit=100)))


async def _framed(services: Services, run: Run) -> RunFramer:
    """A framer that has seen what the run's log holds now (its first batch
    is everything already appended), for its status and subgraph tree."""
    framer = RunFramer(run, graph_name(services, run))
    if run.status == "pending":
        return framer  # nothing appended yet
    try:
        async for batch in resume(services.events, run.run_id):
            for event in batch:
                framer.frame(event, 0)
            break
    except (EventsExpired, RunNotFound):
        framer.status = _STATUS.get(run.status, "completed")
    return framer


_STATUS = {"running": "running", "error": "failed", "timeout": "failed", "interrupted": "failed"}


async def get_tree(
    services: Services, thread_id: str, params: dict[str, Any], conn: HTTPConnection
) -> Any:
    runs = await _runs(services, thread_id)
    run_id = params.get("run_id")
    chosen = [r for r in runs if r.run_id == run_id] if run_id else runs[-1:]
    if not chosen:
        raise CommandFailed("no_such_run", f"no run {run_id or ''} on thread {thread_id}", 404)
    framer = await _framed(services, chosen[0])
    children = [
        {"namespace": list(ns), "status": status, "graph_name": ns[-1].partition(":")[0]}
        for ns, status in framer.subgraphs.items()
    ]
    root = {
        "namespace": [],
        "status": framer.status,
        "graph_name": framer.graph_name or "",
        "children": _nest(children, 1),
    }
    return {"tree": root}


def _nest(nodes: list[dict[str, Any]], depth: int) -> list[dict[str, Any]]:
    level = [n for n in nodes if len(n["namespace"]) == depth]
    for node in level:
        below = [n for n in nodes if n["namespace"][:depth] == node["namespace"]]
        node["children"] = _nest(below, depth + 1)
    return level


async def _graph(services: Services, thread_id: str) -> Any:
    thread = await services.storage.threads.get(thread_id)
    graph_id = thread.metadata.get("graph_id") if thread else None
    if not isinstance(graph_id, str) or graph_id not in services.registry.ids():
        raise CommandFailed("no_such_run", f"thread {thread_id} has not run a graph yet", 404)
    pin = await thread_graph_pin(
        services.registry, services.storage.checkpointer, graph_id, thread_id
    )
    return await services.registry.get(graph_id, params=pin.params, version=pin.version)


async def state_get(
    services: Services, thread_id: str, params: dict[str, Any], conn: HTTPConnection
) -> Any:
    graph = await _graph(services, thread_id)
    snapshot = await graph.aget_state({"configurable": {"thread_id": thread_id}})
    values = serde.jsonable(snapshot.values) or {}
    keys = params.get("keys")
    if isinstance(keys, list):
        values = {k: v for k, v in values.items() if k in keys}
    result: dict[str, Any] = {"values": values}
    checkpoint_id = (snapshot.config or {}).get("configurable", {}).get("checkpoint_id")
    if checkpoint_id:
        result["checkpoint"] = {"id": checkpoint_id, "ns": ""}
    return result


async def list_checkpoints(
    services: Services, thread_id: str, params: dict[str, Any], conn: HTTPConnection
) -> Any:
    graph = await _graph(services, thread_id)
    limit = params.get("limit", 10)
    if not isinstance(limit, int) or limit < 1:
        raise CommandFailed("invalid_argument", "limit must be a positive integer")
    before = params.get("before")
    before_config = {"configurable": {"thread_id": thread_id, "checkpoint_id": before}}
    checkpoints = []
    async for snapshot in graph.aget_state_history(
        {"configurable": {"thread_id": thread_id}},
        limit=limit,
        before=before_config if isinstance(before, str) else None,
    ):
        metadata = serde.jsonable(snapshot.metadata) or {}
        checkpoints.append(
            {
                "id": snapshot.config["configurable"]["checkpoint_id"],
                "timestamp": snapshot.created_at,
                "step": metadata.get("step", -1),
                "metadata": metadata,
            }
        )
    return {"checkpoints": checkpoints}


# (services, thread_id, params, the request or socket: who is asking)
Handler = Callable[[Services, str, dict[str, Any], HTTPConnection], Awaitable[Any]]
_HANDLERS: dict[str, Handler] = {
    "run.start": start,
    "input.respond": respond,
    "state.fork": fork,
    "agent.getTree": get_tree,
    "state.get": state_get,
    "state.listCheckpoints": list_checkpoints,
}
_SESSION_ONLY = ("subscription.subscribe", "subscription.unsubscribe", "subscription.reconnect")


async def run_command(
    services: Services, thread_id: str, command: Command, conn: HTTPConnection
) -> dict[str, Any]:
    """The success envelope; raises ``CommandFailed`` for an error one. ``conn``
    (the request or WebSocket) is whose commands these are."""
    handler = _HANDLERS.get(command.method)
    if handler is None:
        if command.method in _SESSION_ONLY:
            raise CommandFailed(
                "not_supported",
                f"{command.method} needs a WebSocket session (WS /threads/{thread_id}/"
                "stream/events); over HTTP, POST a filter to /stream/events instead",
            )
        known = sorted([*_HANDLERS, *_SESSION_ONLY])
        raise CommandFailed(
            "unknown_command", f"unknown command {command.method!r}; known: {known}"
        )
    result = await handler(services, thread_id, command.params, conn)
    return success_envelope(command.id, result)
