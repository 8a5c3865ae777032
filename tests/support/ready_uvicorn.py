"""uvicorn for tests: tells another thread, through an Event, when it listens."""

from __future__ import annotations

import socket
import threading

import uvicorn

__all__ = ["ReadyServer"]


class ReadyServer(uvicorn.Server):
    """A uvicorn server run off the main thread; ``ready`` is set once it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()

    def install_signal_handlers(self) -> None:
        # Not the main thread: signals stay with the test runner.
        pass
