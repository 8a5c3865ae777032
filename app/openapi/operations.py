"""Each HTTP operation of the route table: its body, query, and answers.

Keyed by ``(method, path)`` exactly as ``app.main.routes()`` writes them;
``app.openapi.document`` walks the route table and refuses a route missing
here (a test fails, the document never silently omits one). Bodies are the
models the handlers validate with, so the document cannot drift from them.
Every operation also answers ``default``: an ``ErrorBody``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import Field

from app.openapi import responses as out
from app.runs.batch import BatchRequest
from app.schemas import (
    AssistantCount,
    AssistantSearch,
    RunCreate,
    Strict,
    ThreadCount,
    ThreadCreate,
    ThreadHistory,
    ThreadPatch,
    ThreadSearch,
    ThreadStateAt,
    ThreadStateUpdate,
)

__all__ = ["OPERATIONS", "BatchCreate", "Body", "Operation", "Param", "Reply"]

# A type pydantic can describe (a model, ``list[Model]``, ``int``, ``Any``),
# or a literal JSON schema for what no single type says.
Schema = Any


@dataclass(frozen=True)
class Param:
    name: str
    schema: dict[str, Any]
    description: str = ""
    required: bool = False
    array: bool = False  # repeatable: ?select=a&select=b


@dataclass(frozen=True)
class Reply:
    schema: Schema = None  # None: no body
    media_type: str = "application/json"
    description: str = ""
    partial: bool = False  # ``select`` may leave out any field
    headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Body:
    schema: Schema
    required: bool = True


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    replies: dict[int, Reply]
    body: Body | None = None
    query: tuple[Param, ...] = ()
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


_BOOL = {"type": "boolean"}
_RUN_HEADERS = ("Location", "Content-Location")


def _sse_event(names: str) -> dict[str, Any]:
    """One Server-Sent Event (OpenAPI 3.1 describes a stream by its events)."""
    return {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "event": {"type": "string", "description": names},
            "data": {"type": "string", "description": "one line of JSON"},
        },
        "required": ["id", "event", "data"],
    }


_SSE = Reply(
    _sse_event(
        "metadata, a stream mode (values, updates, messages, custom, debug, delta, tasks, "
        "checkpoints; 'mode|ns' for a subgraph's), error, end"
    ),
    media_type="text/event-stream",
    description="the run's events, each with an id; ': heartbeat' comments between",
    headers=_RUN_HEADERS,
)
_STATE_SELECT = Param(
    "select",
    {"type": "string"},
    "state fields to answer with, or values.<key> for one key of the values",
    array=True,
)
_RUN_STATUS = {
    "type": "string",
    "enum": ["pending", "running", "success", "error", "timeout", "interrupted"],
}
# Any JSON: the run's final values, or {"__error__": {...}} when it failed.
_RESULT = Reply(Any, description="the final values, or {'__error__': ...}; '\\n' keep-alives first")


class BatchCreate(Strict):
    """``POST /runs/batch`` in its object form (``parse_batch(..., options=False)``)."""

    items: list[RunCreate] = Field(min_length=1)


# Items of /wait and /stream are validated one by one: an invalid item
# becomes its own error result, so the document does not type them.
_BATCH = Body(list[Any] | BatchRequest)


def _run_ops(tag: str, *, on_thread: bool) -> dict[tuple[str, str], Operation]:
    prefix = "/threads/{thread_id}/runs" if on_thread else "/runs"
    where = "on the thread" if on_thread else "stateless"
    body = Body(RunCreate)
    return {
        ("POST", prefix): Operation(
            f"Create a run {where}, in the background",
            tag,
            {200: Reply(out.Run, headers=_RUN_HEADERS)},
            body,
        ),
        ("POST", f"{prefix}/stream"): Operation(
            f"Create a run {where} and stream its events", tag, {200: _SSE}, body
        ),
        ("POST", f"{prefix}/wait"): Operation(
            f"Create a run {where} and wait for its result", tag, {200: _RESULT}, body
        ),
    }


_THREAD_RUN = "/threads/{thread_id}/runs/{run_id}"

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", "/ok"): Operation(
        "Ready: every graph compiled, storage open", "system", {200: Reply(out.Ok)}
    ),
    ("GET", "/info"): Operation(
        "Server, storage and graph status", "system", {200: Reply(out.Info)}
    ),
    ("GET", "/openapi.json"): Operation("This document", "system", {200: Reply(dict[str, Any])}),
    ("POST", "/assistants/search"): Operation(
        "Search assistants (one per graph)",
        "assistants",
        {200: Reply(list[out.Assistant], partial=True)},
        Body(AssistantSearch, required=False),
    ),
    ("POST", "/assistants/count"): Operation(
        "Count assistants", "assistants", {200: Reply(int)}, Body(AssistantCount, required=False)
    ),
    ("GET", "/assistants/{assistant_id}"): Operation(
        "An assistant, by id or graph id", "assistants", {200: Reply(out.Assistant)}
    ),
    ("GET", "/assistants/{assistant_id}/graph"): Operation(
        "The assistant's graph, drawable",
        "assistants",
        {200: Reply(dict[str, Any])},
        query=(Param("xray", _BOOL, "include subgraphs"),),
    ),
    ("GET", "/assistants/{assistant_id}/schemas"): Operation(
        "The graph's JSON schemas", "assistants", {200: Reply(out.AssistantSchemas)}
    ),
    ("POST", "/threads"): Operation(
        "Create a thread", "threads", {200: Reply(out.Thread)}, Body(ThreadCreate, required=False)
    ),
    ("POST", "/threads/search"): Operation(
        "Search threads",
        "threads",
        {200: Reply(list[out.Thread], partial=True)},
        Body(ThreadSearch, required=False),
    ),
    ("POST", "/threads/count"): Operation(
        "Count threads", "threads", {200: Reply(int)}, Body(ThreadCount, required=False)
    ),
    ("GET", "/threads/{thread_id}"): Operation("A thread", "threads", {200: Reply(out.Thread)}),
    ("PATCH", "/threads/{thread_id}"): Operation(
        "Merge metadata into a thread", "threads", {200: Reply(out.Thread)}, Body(ThreadPatch)
    ),
    ("DELETE", "/threads/{thread_id}"): Operation(
        "Delete a thread, its runs and checkpoints", "threads", {204: Reply()}
    ),
    ("GET", "/threads/{thread_id}/state"): Operation(
        "The thread's current state",
        "threads",
        {200: Reply(out.ThreadState, partial=True)},
        query=(Param("subgraphs", _BOOL, "include subgraph states"), _STATE_SELECT),
    ),
    ("POST", "/threads/{thread_id}/state"): Operation(
        "Update the thread's state as a node would",
        "threads",
        {200: Reply(out.StateUpdated)},
        Body(ThreadStateUpdate),
    ),
    ("POST", "/threads/{thread_id}/state/checkpoint"): Operation(
        "The thread's state at a checkpoint",
        "threads",
        {200: Reply(out.ThreadState, partial=True)},
        Body(ThreadStateAt),
    ),
    ("GET", "/threads/{thread_id}/state/{checkpoint_id}"): Operation(
        "The thread's state at a checkpoint (404 if it has no such checkpoint)",
        "threads",
        {200: Reply(out.ThreadState, partial=True)},
        query=(Param("subgraphs", _BOOL, "include subgraph states"), _STATE_SELECT),
    ),
    ("GET", "/threads/{thread_id}/history"): Operation(
        "The thread's past states, newest first",
        "threads",
        {200: Reply(list[out.ThreadState])},
        query=(
            Param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "states, at most"),
            Param("before", {"type": "string"}, "only states before this checkpoint id"),
        ),
    ),
    ("POST", "/threads/{thread_id}/history"): Operation(
        "The thread's past states, filtered",
        "threads",
        {200: Reply(list[out.ThreadState], partial=True)},
        Body(ThreadHistory, required=False),
    ),
    ("POST", "/threads/{thread_id}/copy"): Operation(
        "Copy a thread with its checkpoints", "threads", {200: Reply(out.Thread)}
    ),
    ("GET", "/threads/{thread_id}/runs"): Operation(
        "The thread's runs, newest first",
        "runs",
        {200: Reply(list[out.Run])},
        query=(
            Param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
            Param("offset", {"type": "integer", "minimum": 0, "maximum": 10_000}),
            Param("status", _RUN_STATUS),
        ),
    ),
    **_run_ops("runs", on_thread=True),
    ("GET", _THREAD_RUN): Operation("A run", "runs", {200: Reply(out.Run)}),
    ("DELETE", _THREAD_RUN): Operation("Delete a run (cancelling it)", "runs", {204: Reply()}),
    ("GET", _THREAD_RUN + "/join"): Operation("Wait for a run's result", "runs", {200: _RESULT}),
    ("GET", _THREAD_RUN + "/stream"): Operation(
        "Follow a run's events; with Last-Event-ID, resume after it",
        "runs",
        {200: _SSE},
        query=(
            Param("cancel_on_disconnect", _BOOL),
            Param("last_event_id", {"type": "string"}, "as the Last-Event-ID header"),
        ),
    ),
    ("POST", _THREAD_RUN + "/cancel"): Operation(
        "Cancel a run",
        "runs",
        {202: Reply(description="cancelling"), 204: Reply(description="cancelled (wait=true)")},
        query=(
            Param("wait", _BOOL, "answer once the run has ended"),
            Param("action", {"type": "string", "enum": ["interrupt", "rollback"]}),
        ),
    ),
    ("POST", _THREAD_RUN + "/stream-token"): Operation(
        "A short-lived token that opens this run's stream (for EventSource)",
        "runs",
        {
            200: Reply(
                {
                    "type": "object",
                    "properties": {
                        "token": {"type": "string"},
                        "expires_at": {"type": "number"},
                        "stream_url": {"type": "string"},
                    },
                    "required": ["token", "expires_at", "stream_url"],
                }
            )
        },
    ),
    **_run_ops("stateless runs", on_thread=False),
    ("POST", "/rules/reload"): Operation(
        "Reload the routing rules atomically",
        "router",
        {200: Reply(out.ReloadResult), 422: Reply(out.ReloadRefused)},
    ),
    ("GET", "/"): Operation(
        "The playground page", "playground", {200: Reply({"type": "string"}, "text/html")}
    ),
    ("POST", "/runs/batch"): Operation(
        "Start stateless runs in the background",
        "batch",
        {200: Reply(list[out.Run])},
        Body(Annotated[list[RunCreate], Field(min_length=1)] | BatchCreate),
    ),
    ("POST", "/runs/batch/wait"): Operation(
        "Run a batch, answer every result in input order",
        "batch",
        {200: Reply(out.BatchResults)},
        _BATCH,
    ),
    ("POST", "/runs/batch/stream"): Operation(
        "Run a batch, stream each result as it ends",
        "batch",
        {200: Reply(_sse_event("result (one per item), then end"), "text/event-stream")},
        _BATCH,
    ),
}
