"""The MCP service registry: MCP servers by name, each with one lazily opened client.

Servers come from settings (``mcp.servers``) and from ``/mcp/servers``
at run time: a stdio command the registry spawns, or a streamable-HTTP
URL. Sessions are opened with ``langchain-mcp-adapters``' ``create_session``
(the ``mcp`` package's clients underneath).

Lifecycle of one server's client::

    put(config) ──> (no client) ──first use──> open ──replace/remove/reload──> closed
                                                 │
                                   transport failure (server died)
                                                 └──> dropped: next use reconnects

* Lazy: nothing connects until a tool is listed or called.
* A session is held by its own task, because the ``mcp`` clients are anyio
  task groups that must be exited by the task that entered them; callers
  from any task share the session.
* Replacing or removing a server closes its client (the stdio process ends).
* A call that fails in transport (the process died, the URL stopped
  answering, the call timed out) raises :class:`McpServerError` naming
  server and tool, and drops the client, so the next call (or ``reload``)
  starts afresh. A tool that reports an error raises :class:`McpToolError`
  and keeps the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from langchain_mcp_adapters.sessions import create_session
from mcp import ClientSession
from mcp.types import CallToolResult, TextContent, Tool

from app.mcp.config import McpServerConfig

__all__ = ["McpError", "McpRegistry", "McpServerConfig", "McpServerError", "McpToolError"]


class McpError(RuntimeError):
    """Something about an MCP server or tool failed."""


class McpServerError(McpError):
    """The server could not be reached or stopped answering."""


class McpToolError(McpError):
    """The tool ran and reported an error."""


class _Client:
    """One open session, held by its own task until ``close``."""

    def __init__(self, config: McpServerConfig) -> None:
        self.config = config
        self._ready: asyncio.Future[ClientSession] = asyncio.get_running_loop().create_future()
        self._closing = asyncio.Event()
        self._task = asyncio.create_task(self._hold(), name=f"mcp-{config.name}")

    async def _hold(self) -> None:
        try:
            async with create_session(self.config.connection()) as session:
                await session.initialize()
                self._ready.set_result(session)
                await self._closing.wait()
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            if not isinstance(exc, Exception):
                raise

    async def session(self) -> ClientSession:
        try:
            return await asyncio.wait_for(asyncio.shield(self._ready), self.config.timeout_s)
        except TimeoutError:
            raise McpServerError(
                f"MCP server {self.config.name!r} did not answer within "
                f"{self.config.timeout_s:g} s of connecting"
            ) from None

    def state(self) -> str:
        if not self._ready.done():
            return "connecting"
        return "failed" if self._ready.cancelled() or self._ready.exception() else "connected"

    async def close(self) -> None:
        self._closing.set()
        if not self._ready.done():
            self._task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(self._task, 10)
        if self._ready.done() and not self._ready.cancelled():
            self._ready.exception()  # retrieved: a failed connect was reported to callers


def _result_value(result: CallToolResult) -> Any:
    """Structured content when the tool gives it, else its text (one block: a string)."""
    if result.structuredContent is not None:
        return result.structuredContent
    texts = [block.text for block in result.content if isinstance(block, TextContent)]
    return texts[0] if len(texts) == 1 else texts


class McpRegistry:
    """MCP servers by name. Call ``aclose`` at shutdown."""

    def __init__(self, servers: Iterable[McpServerConfig] = ()) -> None:
        self._configs: dict[str, McpServerConfig] = {}
        self._clients: dict[str, _Client] = {}
        self._lock = asyncio.Lock()
        for config in servers:
            self._configs[config.name] = config

    # -- servers --------------------------------------------------------------

    def names(self) -> list[str]:
        return list(self._configs)

    def get(self, name: str) -> McpServerConfig | None:
        return self._configs.get(name)

    def status(self, name: str) -> str:
        """``idle`` (no client: next use connects), ``connecting``, ``connected`` or ``failed``."""
        client = self._clients.get(name)
        if client is None:
            return "idle"
        return client.state()

    async def put(self, config: McpServerConfig) -> bool:
        """Register or replace; a replaced server's client is closed. True if replaced."""
        async with self._lock:
            replaced = config.name in self._configs
            self._configs[config.name] = config
            old = self._clients.pop(config.name, None)
        if old is not None:
            await old.close()
        return replaced

    async def remove(self, name: str) -> bool:
        async with self._lock:
            found = self._configs.pop(name, None) is not None
            old = self._clients.pop(name, None)
        if old is not None:
            await old.close()
        return found

    async def reload(self, name: str) -> None:
        """Close the client now; the next use connects again."""
        await self._drop(name)

    async def aclose(self) -> None:
        async with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        await asyncio.gather(*(client.close() for client in clients))

    async def _drop(self, name: str, client: _Client | None = None) -> None:
        async with self._lock:
            current = self._clients.get(name)
            if current is None or (client is not None and current is not client):
                return  # already replaced by a newer client
            del self._clients[name]
        await current.close()

    async def _client(self, name: str) -> _Client:
        async with self._lock:
            config = self._configs.get(name)
            if config is None:
                known = ", ".join(self._configs) or "none"
                raise McpServerError(f"no MCP server {name!r} is registered (known: {known})")
            client = self._clients.get(name)
            if client is None:
                client = self._clients[name] = _Client(config)
        return client

    async def _session(self, name: str) -> tuple[_Client, ClientSession]:
        client = await self._client(name)
        try:
            return client, await client.session()
        except McpServerError:
            await self._drop(name, client)
            raise
        except Exception as exc:
            await self._drop(name, client)
            raise McpServerError(f"MCP server {name!r} could not be reached: {exc}") from exc

    # -- tools ----------------------------------------------------------------

    async def list_tools(self, name: str) -> list[Tool]:
        client, session = await self._session(name)
        try:
            timeout = client.config.timeout_s
            return (await asyncio.wait_for(session.list_tools(), timeout)).tools
        except Exception as exc:
            await self._drop(name, client)
            raise McpServerError(f"MCP server {name!r} failed listing tools: {exc}") from exc

    async def call_tool(self, server: str, tool: str, arguments: Mapping[str, Any]) -> Any:
        client, session = await self._session(server)
        timeout = timedelta(seconds=client.config.timeout_s)
        try:
            result = await session.call_tool(tool, dict(arguments), read_timeout_seconds=timeout)
        except Exception as exc:
            await self._drop(server, client)
            reason = str(exc) or type(exc).__name__
            raise McpServerError(
                f"MCP server {server!r} failed calling tool {tool!r}: {reason}"
            ) from exc
        if result.isError:
            text = " ".join(b.text for b in result.content if isinstance(b, TextContent))
            raise McpToolError(f"MCP tool {tool!r} on {server!r} failed: {text or 'no detail'}")
        return _result_value(result)

    async def langchain_tools(self, server: str | None = None) -> list[BaseTool]:
        """The servers' tools as LangChain tools, for graph factories (``mcp_tools``).

        Each tool calls through the registry, so it keeps working when its
        server is replaced or reconnects. Names are ``<server>_<tool>`` when
        listing every server, plain when ``server`` is given.
        """
        names = [server] if server is not None else self.names()
        tools: list[BaseTool] = []
        for name in names:
            for tool in await self.list_tools(name):
                tools.append(self._as_langchain(name, tool, prefix=server is None))
        return tools

    def _as_langchain(self, server: str, tool: Tool, *, prefix: bool) -> BaseTool:
        async def call(**arguments: Any) -> str:
            value = await self.call_tool(server, tool.name, arguments)
            return value if isinstance(value, str) else json.dumps(value, default=str)

        return StructuredTool(
            name=f"{server}_{tool.name}" if prefix else tool.name,
            description=tool.description or tool.name,
            args_schema=tool.inputSchema,
            coroutine=call,
        )
