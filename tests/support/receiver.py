"""A webhook receiver for tests: a real HTTP server that records what it gets.

``fail_next`` makes the next N requests answer 500; ``delay_s`` holds each
answer that long (a slow receiver). ``wait_for(n)`` blocks on a condition
until ``n`` requests arrived (no polling, no sleeps).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.ready_uvicorn import ReadyServer
from tests.support.server import free_port

__all__ = ["Received", "Receiver", "run_receiver"]


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival


@dataclass
class Receiver:
    url: str = ""
    fail_next: int = 0
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        with self._changed:
            self.received.append(Received(dict(request.headers), body, time.monotonic()))
            failing = self.fail_next > 0
            self.fail_next -= failing
            self._changed.notify_all()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)  # the slow receiver under test
        return Response(status_code=500 if failing else 204)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"{len(self.received)} of {count} webhook calls arrived")
            return list(self.received)


@contextmanager
def run_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    port = free_port()
    app = Starlette(routes=[Route("/hook", receiver.handle, methods=["POST"])])
    server = ReadyServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    if not server.ready.wait(10):
        raise RuntimeError("webhook receiver did not start")
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        server.should_exit = True
        thread.join(10)
