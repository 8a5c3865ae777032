"""A real uvicorn server on a free port, in its own thread and event loop.

Used by every SSE, WebSocket and SDK test: the client under test talks HTTP
over loopback to a server whose loop it does not share.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette

from app.main import create_app
from app.settings import Settings
from tests.support.ready_uvicorn import ReadyServer

__all__ = ["RunningServer", "free_port", "run_server"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningServer:
    url: str
    settings: Settings
    port: int


@contextmanager
def run_server(
    settings: Settings, *, startup_timeout: float = 30.0, app: Starlette | None = None
) -> Iterator[RunningServer]:
    """Serve ``app`` (default: ``create_app(settings)``) until the block ends."""
    port = free_port()
    config = uvicorn.Config(
        app or create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = ReadyServer(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    if not server.ready.wait(startup_timeout) or not server.started:
        server.should_exit = True
        thread.join(5)
        raise RuntimeError("switchyard test server did not start (see log above)")
    try:
        yield RunningServer(url=f"http://127.0.0.1:{port}", settings=settings, port=port)
    finally:
        server.should_exit = True
        thread.join(30)
