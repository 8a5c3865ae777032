"""Thread streams as SSE: the protocol's event stream, and the thread join.

Both read ``thread_feed`` and only frame; heartbeats (``: heartbeat``) come
on the one keep-alive cadence, busy or idle, since a thread stream outlives
its runs and may wait a long time for the next one.

* ``protocol_chunks``: ``POST /threads/{id}/stream/events``. Each protocol
  event is one SSE event: ``id`` its ``event_id``, ``event`` its method,
  ``data`` the whole event. A failed read (``resume_gap``) ends the stream
  with an unsolicited ``{"type": "error", "id": null, ...}`` frame, which is
  how the SDKs learn why a stream closed.
* ``thread_join_chunks``: ``GET /threads/{id}/stream``, the run API's view
  of a thread: its runs' events as their own streams carry them, ``id`` the
  thread cursor (seq), and per ``stream_mode``: ``run_modes`` (every event;
  each run's ``end`` becomes ``run_done`` ``{"run_id", "status"}``, since the
  thread stream goes on), ``lifecycle`` (``metadata`` and ``run_done``
  only), ``state_update`` (root ``values``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence

from sse_starlette import ServerSentEvent

from app import serde
from app.errors import SwitchyardError
from app.events.keepalive import with_keepalive
from app.services import Services
from app.transport.sse_response import HEARTBEAT
from app.transport.threads.feed import thread_feed
from app.transport.threads.frames import ProtocolEvent
from app.transport.threads.subscription import EventFilter, matches

__all__ = ["JOIN_MODES", "protocol_chunks", "thread_join_chunks"]

JOIN_MODES = frozenset({"run_modes", "lifecycle", "state_update"})
_HEARTBEAT = HEARTBEAT  # the one object: the response counts heartbeats by identity


def _event(event_id: str, name: str, data: bytes) -> bytes:
    return b"id: %s\r\nevent: %s\r\ndata: %s\r\n\r\n" % (event_id.encode(), name.encode(), data)


def _stream_error(exc: SwitchyardError) -> bytes:
    body = {"type": "error", "id": None, "error": exc.code.value, "message": exc.message}
    return b"event: error\r\ndata: %s\r\n\r\n" % serde.dumps(body)


async def protocol_chunks(
    batches: AsyncIterator[list[ProtocolEvent]], wanted: EventFilter, keepalive_s: float
) -> AsyncGenerator[bytes, None]:
    try:
        async for batch in with_keepalive(batches, keepalive_s):
            if batch is None:
                yield _HEARTBEAT
                continue
            frames = [
                _event(e["event_id"], e["method"], serde.dumps(e))
                for e in batch
                if matches(e, wanted)
            ]
            if frames:
                yield b"".join(frames)
    except SwitchyardError as exc:
        yield _stream_error(exc)


async def thread_join_chunks(
    services: Services,
    thread_id: str,
    *,
    since: int | None,
    modes: Sequence[str],
    keepalive_s: float,
) -> AsyncGenerator[bytes, None]:
    everything = "run_modes" in modes
    lifecycle = everything or "lifecycle" in modes
    states = "state_update" in modes
    feed = thread_feed(
        runs=services.storage.runs,
        log=services.events,
        watch=services.runs.thread_watch,
        thread_id=thread_id,
        since=since,
    )
    try:
        async for batch in with_keepalive(feed, keepalive_s):
            if batch is None:
                yield _HEARTBEAT
                continue
            frames: list[bytes] = []
            for item in batch:
                # Strictly after the cursor: this stream has no event_id to dedupe by.
                if not item.visible or (since and item.seq <= since):
                    continue
                name, seq = item.event.event, str(item.seq)
                if name == "end":
                    if lifecycle:
                        run = await services.runs.find(thread_id, item.run.run_id)
                        status = run.status if run is not None else item.run.status
                        done = {"run_id": item.run.run_id, "status": status}
                        frames.append(_event(seq, "run_done", serde.dumps(done)))
                elif (
                    everything
                    or (lifecycle and name == "metadata")
                    or (states and name == "values")  # the root's: subgraphs' are values|<ns>
                ):
                    frames.append(_event(seq, name, item.event.data))
            if frames:
                yield b"".join(frames)
    except SwitchyardError as exc:
        error = ServerSentEvent(data=serde.dumps(exc.to_body()).decode(), event="error")
        yield error.encode()
