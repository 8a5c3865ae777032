"""The ``text/event-stream`` response: the request's task writes, one task listens.

sse-starlette's ``EventSourceResponse`` runs four tasks per response in an
anyio task group (writer, heartbeat timer, shutdown watch, disconnect watch)
and opens a cancel scope around every send. For the short runs a LangGraph
server mostly streams that was about a quarter of the server's CPU per run,
and most of the memory of an idle open stream. This response keeps what those
tasks are for, with less:

* **Heartbeats** come from the source: the event log yields an empty batch
  every ``heartbeat_s`` (``EventLog.read_batches(keepalive_s=...)``), which
  the framing turns into ``: heartbeat``. No timer task per stream.
* **Writing** happens in the request's own task; a send that does not
  complete within ``send_timeout_s`` (a client that stopped reading while its
  socket stays open) ends the stream. ``OpenStreams`` checks that twice a
  second for all streams at once, rather than a timer around every send.
* **Disconnect**: one task waits on ``receive()``; when the client leaves it
  runs ``on_disconnect`` at once (so ``on_disconnect="cancel"`` stops the run
  even while the stream is silent) and cancels the writer.
* **Shutdown**: ``OpenStreams`` ends every open stream, cleanly, once the
  server begins to exit, so stopping the server does not wait on idle
  streams. The signal is sse-starlette's ``AppStatus.should_exit``, which its
  hook on uvicorn's exit handler sets on SIGINT/SIGTERM.

Framing is not done here: the body is bytes already framed as SSE
(``app.transport.sse``, with sse-starlette's ``ServerSentEvent`` encoding).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping

from sse_starlette import ServerSentEvent
from sse_starlette.sse import AppStatus
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.observability.metrics import StreamMetrics

__all__ = ["HEARTBEAT", "EventStreamResponse", "OpenStreams"]

log = logging.getLogger("switchyard.sse")

# What sse-starlette sends: no caching, no proxy buffering; built once.
_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),
]
_WATCH_S = 0.5  # how often stuck sends and a stopping server are looked for
HEARTBEAT = ServerSentEvent(comment="heartbeat").encode()  # one object: counted by identity


class _Stream:
    """What the watch knows of one open stream."""

    __slots__ = ("end", "send_timeout_s", "sending_since", "writer")

    def __init__(self, writer: asyncio.Task[object], send_timeout_s: float | None) -> None:
        self.writer = writer
        self.send_timeout_s = send_timeout_s
        self.sending_since: float | None = None  # loop time a send began, while it lasts
        self.end: str | None = None  # why the watch cancelled the writer


class OpenStreams:
    """The streams this app has open, watched by one task for the whole app.

    ``watch`` runs for the app's lifetime: it ends every open stream once the
    server is exiting, and a stream whose current send has lasted longer
    than its ``send_timeout_s``.
    """

    def __init__(
        self,
        exiting: Callable[[], bool] = lambda: AppStatus.should_exit,
        *,
        watch_s: float = _WATCH_S,
        metrics: StreamMetrics | None = None,
    ) -> None:
        self.metrics = metrics or StreamMetrics(None, "sse")
        self._streams: set[_Stream] = set()
        self._exiting = exiting
        self._watch_s = watch_s

    def __len__(self) -> int:
        return len(self._streams)

    def open(self, writer: asyncio.Task[object], send_timeout_s: float | None) -> _Stream:
        stream = _Stream(writer, send_timeout_s)
        self._streams.add(stream)
        self.metrics.open.inc()
        return stream

    def close(self, stream: _Stream) -> None:
        if stream in self._streams:
            self._streams.discard(stream)
            self.metrics.open.dec()

    def close_all(self) -> None:
        """End every open stream: each sends its last chunk and returns."""
        for stream in self._streams:
            self._end(stream, "shutdown")

    @staticmethod
    def _end(stream: _Stream, reason: str) -> None:
        if stream.end is None:
            stream.end = reason
            stream.writer.cancel()

    def check(self, now: float) -> None:
        """One look at every stream (what ``watch`` does each ``watch_s``)."""
        if self._exiting():
            self.close_all()
            return
        for stream in self._streams:
            since, limit = stream.sending_since, stream.send_timeout_s
            if since is not None and limit is not None and now - since > limit:
                if stream.end is None:
                    self.metrics.timeouts.inc()
                self._end(stream, "send timeout")

    async def watch(self) -> None:
        # A poll rather than a hook: the exit flag is set from a signal
        # handler, and two wake-ups a second cost nothing next to any stream.
        loop = asyncio.get_running_loop()
        while True:
            if self._streams:
                self.check(loop.time())
            await asyncio.sleep(self._watch_s)


class EventStreamResponse(Response):
    """Streams ``chunks`` (SSE-framed bytes) until they end, the client leaves,
    a send times out or the server shuts down (see the module docstring)."""

    media_type = "text/event-stream"

    def __init__(
        self,
        chunks: AsyncGenerator[bytes, None],
        *,
        streams: OpenStreams,
        send_timeout_s: float | None = None,
        headers: Mapping[str, str] | None = None,
        on_disconnect: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.chunks = chunks
        self.streams = streams
        self.send_timeout_s = send_timeout_s
        self.on_disconnect = on_disconnect
        self.client_left = False
        self.status_code = 200
        self.background = None
        extra = (headers or {}).items()
        self.raw_headers = [*_HEADERS, *((k.lower().encode(), v.encode()) for k, v in extra)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
        if scope.get("method") == "HEAD":  # headers only: a stream would never end
            await self.chunks.aclose()
            await send(start)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        writer = asyncio.current_task()
        assert writer is not None, "ASGI apps run in a task"
        listener = asyncio.create_task(self._listen(receive, writer))
        stream = self.streams.open(writer, self.send_timeout_s)
        try:
            await send(start)
            await self._write(send, stream)
            listener.cancel()  # before the last chunk: the end is not a disconnect
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not self.client_left and stream.end is None:
                raise  # not ours: the server is cancelling the request
            writer.uncancel()
            if stream.end == "shutdown" and not self.client_left:
                # End the body: the client sees a clean end, and resumes elsewhere.
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            elif stream.end == "send timeout":
                log.warning("SSE client stopped reading for %s s: closed", self.send_timeout_s)
        finally:
            self.streams.close(stream)
            if self.client_left:
                await listener  # let on_disconnect finish
            else:
                listener.cancel()
            await self.chunks.aclose()

    async def _write(self, send: Send, stream: _Stream) -> None:
        loop = asyncio.get_running_loop()
        metrics = self.streams.metrics
        sent, heartbeats = metrics.bytes_sent, metrics.heartbeats
        async for chunk in self.chunks:
            stream.sending_since = loop.time()
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            stream.sending_since = None
            sent.inc(len(chunk))
            if chunk is HEARTBEAT:
                heartbeats.inc()

    async def _listen(self, receive: Receive, writer: asyncio.Task[object]) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass  # a request body arriving late: nothing to do with it
        self.client_left = True
        self.streams.metrics.closed_by_client.inc()
        try:
            if self.on_disconnect is not None:
                await self.on_disconnect()
        except Exception:
            log.exception("on_disconnect handler failed")
        finally:
            writer.cancel()
