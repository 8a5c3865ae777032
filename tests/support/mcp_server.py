"""A real MCP server (the ``mcp`` package's FastMCP) for tests, over stdio or streamable HTTP.

Run as ``python -m tests.support.mcp_server stdio`` (the registry spawns
it) or ``... http PORT`` (``run_mcp_http_server`` starts it as a process).
Tools: ``add``, ``echo``, ``pid`` (to kill the process), ``fail`` (a tool
error) and ``hold`` (writes a marker file, then never returns: a call in
flight when the test kills the server).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["McpHttpServer", "run_mcp_http_server", "stdio_command", "wait_for_file"]

ROOT = Path(__file__).resolve().parents[2]


def _build(port: int = 0):  # type: ignore[no-untyped-def]  # FastMCP is imported lazily
    import anyio
    from mcp.server.fastmcp import FastMCP

    server = FastMCP("switchyard-test", host="127.0.0.1", port=port, log_level="WARNING")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    def echo(text: str) -> str:
        """Echo the text back."""
        return f"echo: {text}"

    @server.tool()
    def pid() -> int:
        """The server's process id."""
        return os.getpid()

    @server.tool()
    def fail(reason: str) -> str:
        """Always fails."""
        raise ValueError(reason)

    @server.tool()
    async def hold(marker: str) -> str:
        """Writes ``marker`` and never returns."""
        await anyio.Path(marker).write_text(str(os.getpid()), encoding="utf-8")
        await anyio.sleep_forever()
        return "unreachable"

    return server


def stdio_command() -> tuple[str, list[str]]:
    """The command and args that start this server over stdio."""
    return sys.executable, ["-m", "tests.support.mcp_server", "stdio"]


def wait_for_file(path: Path, timeout_s: float = 20.0) -> str:
    """The file's text once it exists (a marker written by another process)."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} was not written within {timeout_s} s")
        time.sleep(0.02)
    return path.read_text(encoding="utf-8")


@dataclass
class McpHttpServer:
    url: str
    process: subprocess.Popen[bytes]


def _answers(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def run_mcp_http_server(port: int) -> Iterator[McpHttpServer]:
    """The server as its own process on ``port``, at ``http://127.0.0.1:<port>/mcp``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.mcp_server", "http", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"MCP test server did not start (exit {process.returncode})")
            time.sleep(0.05)
        yield McpHttpServer(f"http://127.0.0.1:{port}/mcp", process)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        _build(int(sys.argv[2])).run(transport="streamable-http")
    else:
        _build().run(transport="stdio")
