"""MCP over the API: servers registered at run time, tools called from flows, and /mcp.

Real MCP servers (FastMCP, tests/support/mcp_server.py) over stdio (spawned
by Switchyard) and streamable HTTP (a process the tests start); the ``mcp``
package's own client talks to Switchyard's ``/mcp``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from app.mcp.config import McpSettings
from tests.conftest import make_settings
from tests.support.mcp_server import (
    ROOT,
    McpHttpServer,
    run_mcp_http_server,
    stdio_command,
    wait_for_file,
)
from tests.support.server import RunningServer, free_port, run_server


@pytest.fixture(scope="module")
def mcp_http() -> Iterator[McpHttpServer]:
    with run_mcp_http_server(free_port()) as running:
        yield running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = make_settings(
        tmp_path_factory.mktemp("mcp"), mcp=McpSettings(stdio_commands=[sys.executable])
    )
    with run_server(settings) as running:
        yield running


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        yield client


@pytest.fixture
async def sdk(server: RunningServer) -> AsyncIterator[LangGraphClient]:
    client = get_client(url=server.url, timeout=60)
    yield client
    await client.aclose()


def tool_flow(flow_id: str, server: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": flow_id,
        "state": {
            "a": {"type": "integer"},
            "b": {"type": "integer"},
            "text": {"type": "string"},
            "marker": {"type": "string"},
            "result": {"type": "any"},
        },
        "nodes": [
            {
                "id": "call",
                "type": "mcp_tool",
                "config": {
                    "server": server,
                    "tool": tool,
                    "arguments": arguments,
                    "write": "result",
                },
            }
        ],
        "edges": [{"from": "START", "to": "call"}],
    }


STDIO = {
    "transport": "stdio",
    "command": stdio_command()[0],
    "args": stdio_command()[1],
    "cwd": str(ROOT),
}


async def test_stdio_server_when_command_not_allowed_then_refused(http: httpx.AsyncClient) -> None:
    answer = await http.post(
        "/mcp/servers", json={"name": "shell", "transport": "stdio", "command": "/bin/sh"}
    )
    assert answer.status_code == 422
    assert "mcp.stdio_commands" in answer.json()["detail"]


async def test_servers_when_registered_at_run_time_then_tools_listed_and_called_from_flows(
    http: httpx.AsyncClient, sdk: LangGraphClient, mcp_http: McpHttpServer
) -> None:
    created = await http.put("/mcp/servers/tools", json=STDIO)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "idle"  # lazy: nothing spawned yet
    tools = await http.get("/mcp/servers/tools/tools")
    assert {"add", "echo", "hold"} <= {t["name"] for t in tools.json()}
    assert (await http.get("/mcp/servers/tools")).json()["status"] == "connected"
    web = await http.post(
        "/mcp/servers", json={"name": "web", "transport": "streamable_http", "url": mcp_http.url}
    )
    assert web.status_code == 201
    assert (await http.post("/mcp/servers", json={"name": "web", **STDIO})).status_code == 409

    adder = tool_flow("adder", "tools", "add", {"a": "{{state.a}}", "b": "{{state.b}}"})
    assert (await http.post("/flows", json=adder)).status_code == 201
    result: Any = await sdk.runs.wait(None, "adder", input={"a": 40, "b": 2})
    assert result["result"] == {"result": 42}
    echo = tool_flow("web-echo", "web", "echo", {"text": "{{state.text}}"})
    assert (await http.post("/flows", json=echo)).status_code == 201
    result = await sdk.runs.wait(None, "web-echo", input={"text": "over http"})
    assert result["result"] == {"result": "echo: over http"}
    listed = {s["name"]: s for s in (await http.get("/mcp/servers")).json()}
    assert listed["web"]["url"] == mcp_http.url


async def test_server_when_killed_mid_run_then_error_event_and_reload_recovers(
    http: httpx.AsyncClient, sdk: LangGraphClient, tmp_path: Path
) -> None:
    await http.put("/mcp/servers/tools", json=STDIO)
    holder = tool_flow("holder", "tools", "hold", {"marker": "{{state.marker}}"})
    await http.post("/flows", json=holder)
    adder = tool_flow("adder2", "tools", "add", {"a": "{{state.a}}", "b": "{{state.b}}"})
    await http.post("/flows", json=adder)
    marker = tmp_path / "holding"

    async def run() -> list[Any]:
        stream = sdk.runs.stream(None, "holder", input={"marker": str(marker)})
        return [part async for part in stream]

    streaming = asyncio.create_task(run())
    pid = int(await asyncio.to_thread(wait_for_file, marker))
    os.kill(pid, signal.SIGKILL)
    parts = await asyncio.wait_for(streaming, 60)
    errors = [p.data for p in parts if p.event == "error"]
    assert len(errors) == 1, parts
    assert "MCP server 'tools' failed calling tool 'hold'" in errors[0]["message"]
    reloaded = await http.post("/mcp/servers/tools/reload")
    assert reloaded.status_code == 200
    result: Any = await sdk.runs.wait(None, "adder2", input={"a": 1, "b": 2})
    assert result["result"] == {"result": 3}


async def test_server_when_removed_then_404_and_tools_unavailable(
    http: httpx.AsyncClient,
) -> None:
    await http.put(
        "/mcp/servers/gone", json={"transport": "streamable_http", "url": "http://127.0.0.1:9/mcp"}
    )
    unreachable = await http.get("/mcp/servers/gone/tools")
    assert unreachable.status_code == 502
    assert unreachable.json()["code"] == "mcp_unavailable"
    assert (await http.delete("/mcp/servers/gone")).status_code == 204
    assert (await http.get("/mcp/servers/gone")).status_code == 404


async def test_mcp_endpoint_when_mcp_client_connects_then_assistants_are_tools(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    flow = {
        "id": "greeter",
        "description": "Greets someone by name.",
        "state": {"name": {"type": "string"}, "greeting": {"type": "string"}},
        "nodes": [
            {"id": "hi", "type": "transform", "config": {"set": {"greeting": "hi {{state.name}}"}}}
        ],
        "edges": [{"from": "START", "to": "hi"}],
    }
    assert (await http.post("/flows", json=flow)).status_code == 201
    async with (
        streamable_http_client(f"{server.url}/mcp") as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert {"chat", "greeter"} <= set(tools)
        assert tools["greeter"].description == "Greets someone by name."
        assert set(tools["greeter"].inputSchema["properties"]) == {"name", "greeting"}
        greeted = await session.call_tool("greeter", {"name": "Ada"})
        assert not greeted.isError
        assert greeted.structuredContent == {"name": "Ada", "greeting": "hi Ada"}
        chatted = await session.call_tool(
            "chat", {"messages": [{"role": "user", "content": "hello mcp"}]}
        )
        assert chatted.structuredContent is not None
        assert (
            chatted.structuredContent["messages"][-1]["content"] == "[offline] You said: hello mcp"
        )
        failed = await session.call_tool("failing", {"value": 1})
        assert failed.isError
        assert "boom" in str(failed.content[0])
