"""The operations of the platform API, flows, components, MCP servers, rules, metrics.

Same form as ``app.openapi.operations`` (``app.openapi.document`` serves
both tables): request bodies and queries are the models and checks the
handlers validate with. Answers are typed as far as a model states them;
records whose shape belongs to a store (assistant versions, crons, store
items, flows) are JSON objects here, so the document promises no field the
store does not.

Not described (served as ``x-undocumented``, skipped by the fuzz run):
``/mcp`` (the MCP streamable-HTTP protocol endpoint, whose messages are
JSON-RPC, not REST) and the thread streaming protocol's streams,
``GET /threads/{id}/stream`` and ``POST .../stream/events`` (they follow a
thread for as long as the client stays; docs/api.md describes them).
"""

from __future__ import annotations

from typing import Any

from app.mcp.config import McpServerConfig
from app.openapi.operations import Body, Operation, Param, Reply
from app.platform.schemas import (
    AssistantCreate,
    AssistantLatest,
    AssistantPatch,
    AssistantVersions,
    CronCount,
    CronCreate,
    CronPatch,
    CronSearch,
    StoreDelete,
    StoreNamespaces,
    StorePut,
    StoreSearch,
    ThreadPrune,
)
from app.runs.bulk_cancel import CancelMany
from app.transport.threads.commands import Command as ProtocolCommand

__all__ = ["PLATFORM_OPERATIONS"]

_OBJECT = Reply(dict[str, Any])
_OBJECTS = Reply(list[dict[str, Any]])
_GONE = {204: Reply(description="deleted")}
_BOOL = {"type": "boolean"}
_AID = "/assistants/{assistant_id}"
_CRON = "/runs/crons/{cron_id}"
_FLOW = "/flows/{flow_id}"
_MCP = "/mcp/servers/{name}"
# A flow document: JSON (or YAML with Content-Type application/yaml); its
# own JSON Schema is GET /flows/schema. Validated by FlowService, which
# answers every problem at once (422), so the document takes any object.
_FLOW_BODY = Body({"type": "object", "description": "a flow document (GET /flows/schema)"})
_NAMESPACE = Param("namespace", {"type": "string"}, "labels joined by '.'")

PLATFORM_OPERATIONS: dict[tuple[str, str], Operation] = {
    ("POST", "/assistants"): Operation(
        "Create an assistant on a graph", "assistants", {200: _OBJECT}, Body(AssistantCreate)
    ),
    ("PATCH", _AID): Operation(
        "Update an assistant (a new version)",
        "assistants",
        {200: _OBJECT},
        Body(AssistantPatch, required=False),
    ),
    ("DELETE", _AID): Operation(
        "Delete an assistant",
        "assistants",
        _GONE,
        query=(Param("delete_threads", _BOOL, "also delete the threads it ran on"),),
    ),
    ("POST", _AID + "/versions"): Operation(
        "An assistant's versions, newest first",
        "assistants",
        {200: _OBJECTS},
        Body(AssistantVersions, required=False),
    ),
    ("POST", _AID + "/latest"): Operation(
        "Make a version the assistant's latest",
        "assistants",
        {200: _OBJECT},
        Body(AssistantLatest, required=False),
        query=(Param("version", {"type": "integer", "minimum": 1}, "when the body has none"),),
    ),
    ("GET", _AID + "/subgraphs"): Operation(
        "The schemas of the graph's subgraphs",
        "assistants",
        {200: _OBJECT},
        query=(Param("recurse", _BOOL, "also subgraphs of subgraphs"),),
    ),
    ("GET", _AID + "/subgraphs/{namespace}"): Operation(
        "The schemas of the subgraphs under a namespace",
        "assistants",
        {200: _OBJECT},
        query=(Param("recurse", _BOOL, "also subgraphs of subgraphs"),),
    ),
    ("POST", "/threads/prune"): Operation(
        "Delete threads, or keep only their latest state",
        "threads",
        {200: _OBJECT},
        Body(ThreadPrune),
    ),
    ("POST", "/threads/{thread_id}/runs/crons"): Operation(
        "Schedule runs on a thread", "crons", {200: _OBJECT}, Body(CronCreate)
    ),
    ("POST", "/runs/crons"): Operation(
        "Schedule stateless runs", "crons", {200: _OBJECT}, Body(CronCreate)
    ),
    ("POST", "/runs/crons/search"): Operation(
        "Search crons", "crons", {200: _OBJECTS}, Body(CronSearch, required=False)
    ),
    ("POST", "/runs/crons/count"): Operation(
        "Count crons", "crons", {200: Reply(int)}, Body(CronCount, required=False)
    ),
    ("GET", _CRON): Operation("A cron", "crons", {200: _OBJECT}),
    ("PATCH", _CRON): Operation(
        "Change a cron", "crons", {200: _OBJECT}, Body(CronPatch, required=False)
    ),
    ("DELETE", _CRON): Operation("Delete a cron", "crons", _GONE),
    ("PUT", "/store/items"): Operation(
        "Put an item in the long-term store", "store", {204: Reply()}, Body(StorePut)
    ),
    ("GET", "/store/items"): Operation(
        "An item of the long-term store",
        "store",
        {200: _OBJECT},
        query=(
            Param("key", {"type": "string", "minLength": 1}, required=True),
            _NAMESPACE,
            Param("refresh_ttl", _BOOL, "renew the item's TTL"),
        ),
    ),
    ("DELETE", "/store/items"): Operation(
        "Delete an item of the long-term store", "store", {204: Reply()}, Body(StoreDelete)
    ),
    ("POST", "/store/items/search"): Operation(
        "Search the long-term store", "store", {200: _OBJECT}, Body(StoreSearch, required=False)
    ),
    ("POST", "/store/namespaces"): Operation(
        "The store's namespaces", "store", {200: _OBJECT}, Body(StoreNamespaces, required=False)
    ),
    ("POST", "/runs/cancel"): Operation(
        "Cancel runs by id, thread or status",
        "runs",
        {204: Reply(description="cancelled"), 200: _OBJECT},
        Body(CancelMany),
        query=(Param("action", {"type": "string", "enum": ["interrupt", "rollback"]}),),
    ),
    ("GET", "/metrics"): Operation(
        "Prometheus metrics (SWITCHYARD_METRICS_ACCESS decides who may scrape)",
        "system",
        {200: Reply({"type": "string"}, "text/plain", "the text exposition format")},
    ),
    ("GET", "/rules"): Operation(
        "The routing rules, their hits and the last reload", "router", {200: _OBJECT}
    ),
    ("POST", "/flows/validate"): Operation(
        "Every problem of a flow document, each with its JSON path",
        "flows",
        {200: _OBJECT},
        _FLOW_BODY,
    ),
    ("GET", "/flows/schema"): Operation("The flow format's JSON Schema", "flows", {200: _OBJECT}),
    ("GET", "/flows"): Operation("Every flow, its latest version", "flows", {200: _OBJECTS}),
    ("POST", "/flows"): Operation("Create a flow", "flows", {201: _OBJECT}, _FLOW_BODY),
    ("GET", _FLOW): Operation(
        "A flow",
        "flows",
        {200: _OBJECT},
        query=(Param("version", {"type": "integer", "minimum": 1}, "that version"),),
    ),
    ("PUT", _FLOW): Operation("Add a version of a flow", "flows", {200: _OBJECT}, _FLOW_BODY),
    ("DELETE", _FLOW): Operation("Delete a flow", "flows", _GONE),
    ("GET", "/components"): Operation(
        "Flow components, each with its config schema (and plugins that failed to load)",
        "flows",
        {200: _OBJECT},
    ),
    ("GET", "/mcp/servers"): Operation("Registered MCP servers", "mcp", {200: _OBJECTS}),
    ("POST", "/mcp/servers"): Operation(
        "Register an MCP server", "mcp", {201: _OBJECT}, Body(McpServerConfig)
    ),
    ("GET", _MCP): Operation("An MCP server", "mcp", {200: _OBJECT}),
    ("PUT", _MCP): Operation(
        "Register or replace an MCP server", "mcp", {200: _OBJECT}, Body(dict[str, Any])
    ),
    ("DELETE", _MCP): Operation("Remove an MCP server", "mcp", _GONE),
    ("POST", _MCP + "/reload"): Operation("Reconnect to an MCP server", "mcp", {200: _OBJECT}),
    ("GET", _MCP + "/tools"): Operation("An MCP server's tools", "mcp", {200: _OBJECTS}),
    ("POST", "/threads/{thread_id}/commands"): Operation(
        "One command of the thread streaming protocol (docs/api.md)",
        "thread streams",
        {200: _OBJECT},
        Body(ProtocolCommand),
        description="Errors are the protocol's envelopes, with detail and code besides.",
    ),
}
