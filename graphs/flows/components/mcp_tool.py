"""``mcp_tool``: call one tool of a registered MCP server.

The server is looked up by name in the MCP registry (the ``mcp``
dependency, ``graphs.flows.mcp_registry.McpRegistry``) on every call, not at
compile time: servers are registered, replaced and removed while flows keep
their compiled graphs, and a flow only needs its server when it runs. A
failing server ends the run with an ``error`` naming server and tool.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, ConfigDict, Field

from graphs.flows.components.base import (
    Component,
    FlowScope,
    NodeContext,
    NodeFunction,
    Problem,
)
from graphs.flows.templates import render

__all__ = ["McpToolComponent", "McpToolConfig", "ToolCaller"]


class ToolCaller(Protocol):
    """What the component needs of the MCP registry."""

    async def call_tool(self, server: str, tool: str, arguments: Mapping[str, Any]) -> Any: ...


class McpToolConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    server: str = Field(description="A registered MCP server name.")
    tool: str = Field(description="The tool's name on that server.")
    arguments: dict[str, Any] = Field(
        default_factory=dict, description="The tool's arguments; {{state.x}} filled at run time."
    )
    write: str = Field(description="The channel that receives the tool's result.")


class McpToolComponent(Component):
    name = "mcp_tool"
    description = "Calls a tool of a registered MCP server; writes its result to a channel."
    config_model = McpToolConfig

    def writes(self, config: BaseModel) -> Iterable[tuple[tuple[str | int, ...], str]]:
        assert isinstance(config, McpToolConfig)
        return [(("write",), config.write)]

    def check(self, config: BaseModel, scope: FlowScope) -> Iterable[Problem]:
        assert isinstance(config, McpToolConfig)
        if scope.mcp_servers is not None and config.server not in scope.mcp_servers:
            known = ", ".join(sorted(scope.mcp_servers)) or "none"
            yield (("server",), f"unknown MCP server {config.server!r} (registered: {known})")

    async def build(self, config: BaseModel, context: NodeContext) -> NodeFunction:
        assert isinstance(config, McpToolConfig)
        tools: ToolCaller = context.require("mcp")

        async def run(state: dict[str, Any], run_config: RunnableConfig) -> dict[str, Any]:
            arguments = render(config.arguments, state)
            result = await tools.call_tool(config.server, config.tool, arguments)
            return {config.write: result}

        return run
