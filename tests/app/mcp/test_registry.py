"""The MCP registry against a real FastMCP server, over stdio and streamable HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from langchain_core.runnables import RunnableConfig

from app.mcp.registry import McpRegistry, McpServerConfig, McpServerError, McpToolError
from graphs.flows.document import FlowDocument
from graphs.registry import GraphRegistry
from tests.support.mcp_server import (
    ROOT,
    McpHttpServer,
    run_mcp_http_server,
    stdio_command,
    wait_for_file,
)
from tests.support.server import free_port


def stdio_config(name: str = "tools") -> McpServerConfig:
    command, args = stdio_command()
    return McpServerConfig(
        name=name, transport="stdio", command=command, args=args, cwd=str(ROOT), timeout_s=20
    )


@pytest.fixture(scope="module")
def http_server() -> Iterator[McpHttpServer]:
    with run_mcp_http_server(free_port()) as server:
        yield server


@pytest.fixture
async def mcp() -> AsyncIterator[McpRegistry]:
    registry = McpRegistry()
    yield registry
    await registry.aclose()


ADDER = {
    "id": "adder",
    "state": {"a": {"type": "integer"}, "b": {"type": "integer"}, "sum": {"type": "any"}},
    "nodes": [
        {
            "id": "add",
            "type": "mcp_tool",
            "config": {
                "server": "tools",
                "tool": "add",
                "arguments": {"a": "{{state.a}}", "b": "{{state.b}}"},
                "write": "sum",
            },
        }
    ],
    "edges": [{"from": "START", "to": "add"}],
}


def _thread() -> RunnableConfig:
    return {"configurable": {"thread_id": str(uuid.uuid4())}}


async def test_stdio_server_when_registered_at_run_time_then_lazy_listed_called_and_replaced(
    mcp: McpRegistry,
) -> None:
    assert not await mcp.put(stdio_config())
    assert mcp.status("tools") == "idle"  # nothing spawned until first use
    names = {tool.name for tool in await mcp.list_tools("tools")}
    assert {"add", "echo", "pid", "fail", "hold"} <= names
    assert mcp.status("tools") == "connected"
    assert await mcp.call_tool("tools", "add", {"a": 2, "b": 3}) == {"result": 5}
    with pytest.raises(McpToolError, match="nope"):
        await mcp.call_tool("tools", "fail", {"reason": "nope"})
    assert mcp.status("tools") == "connected"  # a tool error keeps the client
    # Graph factories get LangChain tools that call through the registry...
    tools = {tool.name: tool for tool in await mcp.langchain_tools()}
    assert await tools["tools_add"].ainvoke({"a": 4, "b": 5}) == '{"result": 9}'
    old_pid = (await mcp.call_tool("tools", "pid", {}))["result"]
    # ...so replacing the server closes the old process and the same tools keep working.
    assert await mcp.put(stdio_config())
    assert await tools["tools_echo"].ainvoke({"text": "x"}) == '{"result": "echo: x"}'
    assert (await mcp.call_tool("tools", "pid", {}))["result"] != old_pid
    assert not _alive(old_pid)
    assert await mcp.remove("tools")
    with pytest.raises(McpServerError, match="no MCP server 'tools'"):
        await mcp.call_tool("tools", "pid", {})


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie not yet reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def test_http_server_when_registered_then_flow_calls_its_tool(
    mcp: McpRegistry, http_server: McpHttpServer, registry: GraphRegistry
) -> None:
    await mcp.put(McpServerConfig(name="tools", transport="streamable_http", url=http_server.url))
    registry.provide(mcp=mcp)
    registry.put_flow(FlowDocument.model_validate(ADDER), 1)
    result = await (await registry.get("adder")).ainvoke({"a": 20, "b": 22}, _thread())
    assert result["sum"] == {"result": 42}


async def test_server_when_killed_mid_call_then_clear_error_and_reload_recovers(
    mcp: McpRegistry, tmp_path: Path
) -> None:
    await mcp.put(stdio_config())
    marker = tmp_path / "holding"
    call = asyncio.create_task(mcp.call_tool("tools", "hold", {"marker": str(marker)}))
    pid = int(await asyncio.to_thread(_read_when_written, marker))
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(McpServerError, match="MCP server 'tools' failed calling tool 'hold'"):
        await asyncio.wait_for(call, 30)
    assert mcp.status("tools") == "idle"  # dropped: the next use reconnects
    await mcp.reload("tools")
    assert await mcp.call_tool("tools", "add", {"a": 1, "b": 1}) == {"result": 2}


def _read_when_written(path: Path) -> str:
    return wait_for_file(path)


def test_config_when_transport_fields_missing_then_refused() -> None:
    with pytest.raises(ValueError, match="needs `command`"):
        McpServerConfig(name="a", transport="stdio")
    with pytest.raises(ValueError, match="needs `url`"):
        McpServerConfig(name="a", transport="streamable_http")


FACTORY = """
from typing import Any
from typing_extensions import TypedDict
from langgraph.graph import START, StateGraph


class S(TypedDict, total=False):
    text: str
    out: str


async def build(mcp_tools: Any) -> StateGraph:
    tools = {tool.name: tool for tool in await mcp_tools("web")}

    async def call(state: S) -> dict[str, Any]:
        return {"out": await tools["echo"].ainvoke({"text": state["text"]})}

    builder = StateGraph(S)
    builder.add_node("call", call)
    builder.add_edge(START, "call")
    return builder
"""


async def test_factory_when_it_asks_for_mcp_tools_then_gets_the_servers_tools(
    mcp: McpRegistry, http_server: McpHttpServer, tmp_path: Path
) -> None:
    await mcp.put(McpServerConfig(name="web", transport="streamable_http", url=http_server.url))
    (tmp_path / "agent.py").write_text(FACTORY, encoding="utf-8")
    (tmp_path / "langgraph.json").write_text(
        '{"graphs": {"agent": "./agent.py:build"}}', encoding="utf-8"
    )
    registry = GraphRegistry.from_config_files(
        [tmp_path / "langgraph.json"], deps={"mcp_tools": mcp.langchain_tools}
    )
    graph = await registry.get("agent")
    assert registry.injected["agent"] == {"mcp_tools"}
    assert await graph.ainvoke({"text": "from a factory"}) == {
        "text": "from a factory",
        "out": '{"result": "echo: from a factory"}',
    }
