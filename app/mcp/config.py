"""MCP settings: the servers Switchyard calls, and whether it serves ``/mcp`` itself.

Kept apart from the registry so that reading settings never imports the
``mcp`` package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from langchain_mcp_adapters.sessions import Connection

__all__ = ["McpServerConfig", "McpSettings"]


class McpServerConfig(BaseModel):
    """One MCP server: a stdio command, or a streamable-HTTP URL."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
    transport: Literal["stdio", "streamable_http"]
    command: str | None = Field(None, description="stdio: the executable to start.")
    args: list[str] = Field(default_factory=list, description="stdio: its arguments.")
    env: dict[str, str] | None = Field(None, description="stdio: its environment.")
    cwd: str | None = Field(None, description="stdio: its working directory.")
    url: str | None = Field(None, description="streamable_http: the endpoint URL.")
    headers: dict[str, str] | None = Field(None, description="streamable_http: HTTP headers.")
    description: str = ""
    timeout_s: float = Field(30.0, gt=0, description="Per call, and for connecting.")

    @model_validator(mode="after")
    def _transport_fields(self) -> McpServerConfig:
        if self.transport == "stdio" and not self.command:
            raise ValueError("a stdio server needs `command`")
        if self.transport == "streamable_http" and not self.url:
            raise ValueError("a streamable_http server needs `url`")
        return self

    def connection(self) -> Connection:
        if self.transport == "stdio":
            assert self.command is not None
            return {
                "transport": "stdio",
                "command": self.command,
                "args": list(self.args),
                "env": self.env,
                "cwd": self.cwd,
            }
        assert self.url is not None
        return {
            "transport": "streamable_http",
            "url": self.url,
            "headers": self.headers,
            "timeout": self.timeout_s,
        }

    def public(self) -> dict[str, Any]:
        """As listed over HTTP: env and headers may hold secrets, so only their keys."""
        shown = self.model_dump(exclude={"env", "headers"})
        shown["env"] = sorted(self.env) if self.env else []
        shown["headers"] = sorted(self.headers) if self.headers else []
        return shown


class McpSettings(BaseModel):
    """``SWITCHYARD_MCP_SERVERS`` is a JSON list of server configs."""

    servers: list[McpServerConfig] = Field(
        default_factory=list, description="MCP servers registered at startup."
    )
    serve: bool = Field(True, description="Serve the assistants as MCP tools at /mcp.")
    stdio_commands: list[str] = Field(
        default_factory=list,
        description="Executables a client may register as stdio servers over /mcp/servers "
        "(a stdio server is a process this server starts: none by default).",
    )
