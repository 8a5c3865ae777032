"""EventStreamResponse on its own: what a real socket cannot show on demand.

A client that stops reading while keeping its socket open only blocks a
server's write once the kernel buffers on both sides are full, which takes
megabytes and is machine-dependent; here the ASGI ``send`` blocks instead,
and ``OpenStreams.watch`` (the app runs one) finds the stuck send.
Everything else about the response is tested over real sockets in
``test_sse.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from starlette.types import Message

from app.transport.sse_response import EventStreamResponse, OpenStreams


class _Chunks:
    def __init__(self) -> None:
        self.sent = 0
        self.closed = False

    async def generate(self) -> AsyncGenerator[bytes, None]:
        try:
            while True:
                self.sent += 1
                yield b": tick\r\n\r\n"
                await asyncio.sleep(0)
        finally:
            self.closed = True


async def test_response_when_send_blocks_past_send_timeout_then_stream_ends_and_source_closes() -> (
    None
):
    chunks = _Chunks()
    bodies: list[Message] = []
    never = asyncio.Event()

    async def receive() -> Message:
        await never.wait()  # the client neither sends nor leaves
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            bodies.append(message)
            if len(bodies) == 3:
                await never.wait()  # the client stopped reading

    streams = OpenStreams(exiting=lambda: False, watch_s=0.02)
    watch = asyncio.create_task(streams.watch())
    response = EventStreamResponse(chunks.generate(), streams=streams, send_timeout_s=0.1)
    scope = {"type": "http", "method": "POST"}
    try:
        await asyncio.wait_for(response(scope, receive, send), timeout=5)
    finally:
        watch.cancel()
    assert len(bodies) == 3
    assert chunks.closed
    assert len(streams) == 0


async def test_response_when_streams_closed_then_body_ends_with_final_chunk() -> None:
    chunks = _Chunks()
    bodies: list[Message] = []
    streams = OpenStreams(exiting=lambda: False)
    never = asyncio.Event()

    async def receive() -> Message:
        await never.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            bodies.append(message)
            if len(bodies) == 2:
                streams.close_all()

    response = EventStreamResponse(chunks.generate(), streams=streams, send_timeout_s=None)
    await asyncio.wait_for(response({"type": "http", "method": "GET"}, receive, send), timeout=5)
    assert bodies[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert all(m["more_body"] for m in bodies[:-1])
    assert chunks.closed
