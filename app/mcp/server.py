"""Switchyard as an MCP server: every assistant is a tool at ``/mcp`` (streamable HTTP).

As LangGraph Server does: ``tools/list`` gives one tool per assistant (code
graphs and flows), named by graph id, described by the assistant's
description, taking the graph's input schema; ``tools/call`` runs it as a
stateless run through the ``RunManager`` (so it counts against the same
concurrency limit and timeout as any run) and answers with the final state
as structured content. A failed run is a tool error (``isError``) carrying
the run's error message.

The session manager is stateless (a fresh transport per request): the
server keeps nothing between calls, so any process of a deployment can
answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import HTTPConnection
from starlette.types import Receive, Scope, Send

from app import serde
from app.auth.run_access import admit_runs
from app.runs.manager import RunManager
from app.schemas import RunCreate
from graphs.registry import GraphRegistry
from graphs.schemas import input_jsonschema

__all__ = ["McpEndpoint"]


def _request(server: Server[Any, Any]) -> HTTPConnection:
    """The HTTP request the current tool call came in on (streamable HTTP)."""
    request = server.request_context.request
    assert isinstance(request, HTTPConnection), "MCP tools are served over HTTP only"
    return request


def _build_server(registry: GraphRegistry, runs: RunManager) -> Server[Any, Any]:
    server: Server[Any, Any] = Server("switchyard")

    async def list_tools() -> list[types.Tool]:
        tools = []
        for graph_id in registry.ids():
            try:
                graph = await registry.get(graph_id)
            except Exception:  # a flow whose params have no defaults, a broken graph
                continue
            schema = input_jsonschema(graph) or {"type": "object"}
            tools.append(
                types.Tool(
                    name=graph_id,
                    description=registry.description(graph_id),
                    inputSchema=schema,
                )
            )
        return tools

    async def call_tool(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        body = RunCreate.model_validate({"assistant_id": name, "input": arguments})
        # Admitted as the HTTP request's user, like any stateless run: the
        # threads.create_run handlers, the per-user run limit, and the user in
        # the run's config (app.auth.run_access).
        async with admit_runs(_request(server), [body], None, runs.is_active) as admission:
            run = await runs.create(admission.bodies[0], thread_id=None, ephemeral=True)
            admission.bind([run.run_id])
        outcome = await runs.wait(run.run_id)
        if outcome is None or outcome.error is not None:
            error = outcome.error if outcome is not None else None
            message = (error or {}).get("message", "the run ended without a result")
            raise RuntimeError(f"assistant {name!r} failed: {message}")
        # Messages and other LangChain objects become plain JSON, as over HTTP.
        output = orjson.loads(serde.dumps(outcome.output or {}))
        return output if isinstance(output, dict) else {"result": output}

    server.list_tools()(list_tools)  # type: ignore[no-untyped-call]
    server.call_tool(validate_input=False)(call_tool)
    return server


class McpEndpoint:
    """The ASGI app behind ``/mcp``; ``running()`` must be entered by the lifespan."""

    def __init__(self, registry: GraphRegistry, runs: RunManager) -> None:
        self._manager = StreamableHTTPSessionManager(
            app=_build_server(registry, runs), stateless=True, json_response=True
        )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        # The manager is an anyio task group, which must be exited by the task
        # that entered it; a lifespan may be entered and left by two tasks
        # (tests do), so the group lives in a task of its own.
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        stop = asyncio.Event()

        async def hold() -> None:
            async with self._manager.run():
                started.set_result(None)
                await stop.wait()

        task = asyncio.create_task(hold(), name="mcp-endpoint")
        await asyncio.wait([started, task], return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # it failed to start: raise why
        try:
            yield
        finally:
            stop.set()
            await task

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._manager.handle_request(scope, receive, send)
