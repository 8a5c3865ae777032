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
  socket stays open) ends the stream.
* **Disconnect**: one task waits on ``receive()``; when the client leaves it
  runs ``on_disconnect`` at once (so ``on_disconnect="cancel"`` stops the run
  even while the stream is silent) and cancels the writer.
* **Shutdown**: ``OpenStreams`` ends every open stream, cleanly, once the
  server begins to exit, so stopping the server does not wait on idle
  streams. The signal is sse-starlette's ``AppStatus.should_exit``, which its
  hook on uvicorn's exit handler sets on SIGINT/SIGTERM.

Framing is not done here: the body is bytes already framed as SSE
(``app.streaming``, with sse-starlette's ``ServerSentEvent`` encoding).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping

from sse_starlette.sse import AppStatus
from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["EventStreamResponse", "OpenStreams"]

log = logging.getLogger("switchyard.sse")

_EXIT_POLL_S = 0.5  # how soon a stopping server ends its open streams


class OpenStreams:
    """The streams this app has open, so that shutdown can end them.

    ``watch_exit`` runs for the app's lifetime (one task per app, not per
    stream) and ends every open stream once the server is exiting.
    """

    def __init__(self, exiting: Callable[[], bool] = lambda: AppStatus.should_exit) -> None:
        self._writers: set[asyncio.Task[object]] = set()
        self._closing: set[asyncio.Task[object]] = set()
        self._exiting = exiting

    def __len__(self) -> int:
        return len(self._writers)

    def add(self, writer: asyncio.Task[object]) -> None:
        self._writers.add(writer)

    def discard(self, writer: asyncio.Task[object]) -> None:
        self._writers.discard(writer)
        self._closing.discard(writer)

    def closing(self, writer: asyncio.Task[object]) -> bool:
        """Whether this writer was cancelled to end its stream at shutdown."""
        return writer in self._closing

    def close_all(self) -> None:
        """End every open stream: each sends its last chunk and returns."""
        for writer in self._writers - self._closing:
            self._closing.add(writer)
            writer.cancel()

    async def watch_exit(self) -> None:
        # A poll rather than a hook: the flag is set from a signal handler,
        # and two wake-ups a second cost nothing next to any stream.
        while True:
            if self._exiting() and self._writers:
                self.close_all()
            await asyncio.sleep(_EXIT_POLL_S)


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
        # What sse-starlette sends: no caching, no proxy buffering.
        merged = MutableHeaders(headers=dict(headers or {}))
        merged.setdefault("Cache-Control", "no-store")
        merged["Connection"] = "keep-alive"
        merged["X-Accel-Buffering"] = "no"
        self.init_headers(merged)

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
        self.streams.add(writer)
        try:
            await send(start)
            await self._write(send)
            listener.cancel()  # before the last chunk: the end is not a disconnect
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not (self.client_left or self.streams.closing(writer)):
                raise  # not ours: the server is cancelling the request
            writer.uncancel()
            if not self.client_left:  # shutdown: end the body, the client sees a clean end
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except TimeoutError:
            log.warning("SSE client stopped reading for %s s: closed", self.send_timeout_s)
        finally:
            self.streams.discard(writer)
            if self.client_left:
                await listener  # let on_disconnect finish
            else:
                listener.cancel()
            await self.chunks.aclose()

    async def _write(self, send: Send) -> None:
        timeout_s = self.send_timeout_s
        async for chunk in self.chunks:
            message = {"type": "http.response.body", "body": chunk, "more_body": True}
            if timeout_s is None:
                await send(message)
            else:
                async with asyncio.timeout(timeout_s):
                    await send(message)

    async def _listen(self, receive: Receive, writer: asyncio.Task[object]) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass  # a request body arriving late: nothing to do with it
        self.client_left = True
        try:
            if self.on_disconnect is not None:
                await self.on_disconnect()
        except Exception:
            log.exception("on_disconnect handler failed")
        finally:
            writer.cancel()
