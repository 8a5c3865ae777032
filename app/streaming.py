"""Framing: the run event log as SSE, and JSON bodies that wait with keep-alives.

Transports only frame (ARCHITECTURE principle 2): they read ``Event``s from the
log and write them out. sse-starlette owns the response: the heartbeat task
(``: heartbeat`` comments every ``heartbeat_s``, independent of traffic), send
timeouts and disconnect detection. Events are framed here, as the bytes
``ServerSentEvent.encode`` would produce (``id``, ``event``, ``data`` lines),
which sse-starlette sends as they are: the log's data is already one line of
JSON, so there is nothing to split or escape (an event that is not one line
still goes through ``ServerSentEvent``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.responses import StreamingResponse
from starlette.types import Message

from app import serde
from app.errors import SwitchyardError, error_body
from app.events import Event
from app.settings import SSESettings

__all__ = ["event_stream_response", "frame", "run_stream_headers", "waiting_json_response"]


def run_stream_headers(thread_id: str, run_id: str) -> dict[str, str]:
    # The SDK reconnects by re-GETting Location with Last-Event-ID.
    return {
        "Location": f"/threads/{thread_id}/runs/{run_id}/stream",
        "Content-Location": f"/threads/{thread_id}/runs/{run_id}",
    }


def _heartbeat() -> ServerSentEvent:
    return ServerSentEvent(comment="heartbeat")


def frame(event: Event) -> bytes:
    """One event as SSE bytes, exactly as ``ServerSentEvent(...).encode()`` has it."""
    data, name, event_id = event.data, event.event, event.id
    if b"\n" in data or b"\r" in data or _multiline(name) or _multiline(event_id):
        return ServerSentEvent(data=data.decode(), event=name, id=event_id).encode()
    return b"id: %s\r\nevent: %s\r\ndata: %s\r\n\r\n" % (event_id.encode(), name.encode(), data)


def _multiline(text: str) -> bool:
    return "\n" in text or "\r" in text


async def _frames(events: AsyncIterator[Event]) -> AsyncIterator[bytes | ServerSentEvent]:
    try:
        async for event in events:
            yield frame(event)
    except SwitchyardError as exc:
        # e.g. the client resumed from an id the log no longer holds: say so
        # explicitly instead of ending the stream with a silent gap.
        yield ServerSentEvent(data=serde.dumps(error_body(exc)).decode(), event="error")
        yield ServerSentEvent(data="null", event="end")


def event_stream_response(
    events: AsyncIterator[Event],
    *,
    sse: SSESettings,
    headers: Mapping[str, str] | None = None,
    on_disconnect: Callable[[], Awaitable[None]] | None = None,
) -> EventSourceResponse:
    async def closed_by_client(_: Message) -> None:
        if on_disconnect is not None:
            await on_disconnect()

    return EventSourceResponse(
        _frames(events),
        headers=dict(headers or {}),
        ping=sse.heartbeat_s,
        ping_message_factory=_heartbeat,
        send_timeout=sse.send_timeout_s,
        client_close_handler_callable=closed_by_client,
    )


def waiting_json_response(
    result: Awaitable[Any],
    *,
    heartbeat_s: float,
    headers: Mapping[str, str] | None = None,
) -> StreamingResponse:
    """A JSON body that may take long: ``\\n`` every ``heartbeat_s`` until ready.

    Leading whitespace is legal JSON, so any client parses the body as usual,
    and proxies see bytes flowing while the run works.
    """

    async def body() -> AsyncIterator[bytes]:
        task = asyncio.ensure_future(result)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=heartbeat_s)
                if done:
                    yield serde.dumps(task.result())
                    return
                yield b"\n"
        finally:
            if not task.done():
                task.cancel()

    return StreamingResponse(body(), media_type="application/json", headers=dict(headers or {}))
