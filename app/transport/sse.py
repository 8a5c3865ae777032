"""Framing: the run event log as SSE, and JSON bodies that wait with keep-alives.

Transports only frame (ARCHITECTURE principle 2): they read batches of
``Event``s from the log and write them out, each batch in one write; an empty
batch (the log's keep-alive tick, every ``heartbeat_s`` whatever the traffic)
becomes a ``: heartbeat`` comment. Events are framed as the bytes
``ServerSentEvent.encode`` would produce (``id``, ``event``, ``data`` lines):
the log's data is already one line of JSON, so there is nothing to split or
escape (an event that is not one line still goes through ``ServerSentEvent``).
``app.transport.sse_response`` sends the frames: disconnects, send timeouts, shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

from sse_starlette import ServerSentEvent
from starlette.responses import StreamingResponse

from app import serde
from app.errors import SwitchyardError, error_body
from app.events import Event
from app.events.keepalive import with_keepalive
from app.settings import SSESettings
from app.transport.sse_response import HEARTBEAT, EventStreamResponse, OpenStreams

__all__ = ["event_stream_response", "frame", "run_stream_headers", "waiting_json_response"]


def run_stream_headers(thread_id: str, run_id: str) -> dict[str, str]:
    # The SDK reconnects by re-GETting Location with Last-Event-ID.
    return {
        "Location": f"/threads/{thread_id}/runs/{run_id}/stream",
        "Content-Location": f"/threads/{thread_id}/runs/{run_id}",
    }


_HEARTBEAT = HEARTBEAT


def frame(event: Event) -> bytes:
    """One event as SSE bytes, exactly as ``ServerSentEvent(...).encode()`` has it."""
    data, name, event_id = event.data, event.event, event.id
    if b"\n" in data or b"\r" in data or _multiline(name) or _multiline(event_id):
        return ServerSentEvent(data=data.decode(), event=name, id=event_id).encode()
    return b"id: %s\r\nevent: %s\r\ndata: %s\r\n\r\n" % (event_id.encode(), name.encode(), data)


def _multiline(text: str) -> bool:
    return "\n" in text or "\r" in text


async def _frames(batches: AsyncIterator[Sequence[Event]]) -> AsyncGenerator[bytes, None]:
    try:
        async for batch in batches:
            if not batch:
                yield _HEARTBEAT
            elif len(batch) == 1:
                yield frame(batch[0])
            else:
                yield b"".join([frame(event) for event in batch])
    except SwitchyardError as exc:
        # e.g. the client resumed from an id the log no longer holds: say so
        # explicitly instead of ending the stream with a silent gap.
        error = ServerSentEvent(data=serde.dumps(error_body(exc)).decode(), event="error")
        yield error.encode() + ServerSentEvent(data="null", event="end").encode()


def event_stream_response(
    batches: AsyncIterator[Sequence[Event]],
    *,
    sse: SSESettings,
    streams: OpenStreams,
    headers: Mapping[str, str] | None = None,
    on_disconnect: Callable[[], Awaitable[None]] | None = None,
) -> EventStreamResponse:
    """An SSE response over event batches whose empty batches are heartbeats
    (``EventLog.read_batches(keepalive_s=sse.heartbeat_s)``)."""
    return EventStreamResponse(
        _frames(batches),
        streams=streams,
        send_timeout_s=sse.send_timeout_s,
        headers=headers,
        on_disconnect=on_disconnect,
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
        async for value in with_keepalive(_once(result), heartbeat_s):
            yield b"\n" if value is None else serde.dumps(value)

    return StreamingResponse(body(), media_type="application/json", headers=dict(headers or {}))


async def _once(result: Awaitable[Any]) -> AsyncIterator[Any]:
    yield await result
