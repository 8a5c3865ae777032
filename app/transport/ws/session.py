"""One ``/ws`` connection: a reader, a writer, and one follower per run it watches.

::

    client ─frames─> reader ─┬─ ping ─────────────────────┐
                             ├─ run / subscribe ─> follower(run) ─┤─> outbox ─> writer ─> client
                             └─ cancel ─> RunManager      │   (bounded)
                                                          └─ error messages

* A follower reads its run's event log on its own (``app.transport.resume``),
  so any number of sockets can watch one run and each gets every event once,
  with the log's ids. ``subscribe`` with ``last_event_id`` reads the log from
  the start to rebuild status and progress, and sends only what came after.
* Every message goes through one outbox of ``send_queue_max`` messages. A
  producer that finds it full waits up to ``send_timeout_s``; if the client
  still has not taken anything, the socket is closed with 1013 (try again
  later) — the server's memory per socket is the outbox, never more.
* The socket closes with 1000 once every run it follows has ended (after the
  final ``status``), unless a new ``run``/``subscribe`` arrived meanwhile;
  with 1001 after ``idle_timeout_s`` without a client message while it follows
  nothing; with 1008 for an unknown run or a graph that no longer exists.
* Bad messages get ``{"type": "error"}`` and the socket stays open.
* Runs started here with ``on_disconnect="cancel"`` are cancelled when the
  socket goes away before they end.
* With auth on, a socket whose handshake carried no credentials must send
  ``auth`` first (else 1008); ``run``, ``subscribe`` and ``cancel`` are
  authorized like their HTTP counterparts (``threads.create_run``, ``read``,
  ``update``), and another user's run is an unknown run (1008), as over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from app.auth.access import request_auth
from app.auth.run_access import admit_runs
from app.auth.ws import authenticate_message, needs_authentication
from app.endpoints.scoped import run_for
from app.errors import (
    AccessDenied,
    AssistantNotFound,
    EventsExpired,
    InvalidInput,
    PayloadTooLarge,
    RunNotFound,
    SwitchyardError,
    Unauthorized,
)
from app.events import Event, parse_event_id
from app.observability.metrics import StreamMetrics
from app.runs.manager import RunOutcome
from app.runs.progress import PROGRESS_MODES, RunTracker, linear_nodes
from app.schemas import stream_modes_of
from app.services import Services
from app.transport.resume import resume
from app.transport.ws.protocol import (
    AuthMessage,
    Cancel,
    Ping,
    RunRequest,
    Subscribe,
    authenticated_message,
    error_message,
    event_message,
    parse,
    pong_message,
    status_message,
)

__all__ = ["WsSession"]

log = logging.getLogger("switchyard.ws")

NORMAL, GOING_AWAY, POLICY_VIOLATION, INTERNAL_ERROR, TRY_AGAIN_LATER = 1000, 1001, 1008, 1011, 1013
_MAX_REASON_BYTES = 123  # RFC 6455: a close frame's payload is at most 125 bytes


@dataclass(frozen=True)
class _Close:
    code: int
    reason: str
    # False: close only if no run is followed any more when the writer gets here.
    force: bool = True


class _Closing(Exception):
    """The session is ending: a producer stops where it is."""


class _PolicyViolation(Exception):
    def __init__(self, error: SwitchyardError, run_id: str | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.run_id = run_id


class WsSession:
    def __init__(self, websocket: WebSocket, services: Services) -> None:
        self._ws = websocket
        self._services = services
        self._runs = services.runs
        self._settings = services.settings.ws
        self._max_message = services.settings.runs.max_body_bytes
        self._outbox: asyncio.Queue[str | _Close] = asyncio.Queue(self._settings.send_queue_max)
        self._followers: dict[str, asyncio.Task[None]] = {}
        self._cancel_on_disconnect: dict[str, str] = {}  # run id -> thread id
        self._done: asyncio.Future[_Close | None] = asyncio.get_running_loop().create_future()
        observability = services.observability
        self._metrics = observability.streams["ws"] if observability else StreamMetrics(None, "ws")

    async def serve(self) -> None:
        """Accept, run until a close is decided or the client leaves, then clean up."""
        await self._ws.accept()
        self._metrics.open.inc()
        tasks = [
            asyncio.create_task(self._guarded(self._read())),
            asyncio.create_task(self._guarded(self._write())),
        ]
        try:
            close = await self._done
        finally:
            tasks.extend(self._followers.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._cancel_abandoned_runs()
            self._metrics.open.dec()
        if close is not None:
            await self._close(close)

    # -- plumbing -------------------------------------------------------------

    def _finish(self, close: _Close | None) -> None:
        """End the session: with a close frame to send, or (None) the client left."""
        if not self._done.done():
            if close is None:
                self._metrics.closed_by_client.inc()
            self._done.set_result(close)

    async def _guarded(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except _Closing:
            pass
        except Exception:
            log.exception("websocket session failed")
            self._finish(_Close(INTERNAL_ERROR, "internal error"))

    async def _put(self, item: str | _Close) -> None:
        """Queue one message; a client that takes nothing for send_timeout_s is dropped."""
        if self._done.done():
            raise _Closing
        try:
            self._outbox.put_nowait(item)
            return
        except asyncio.QueueFull:
            pass
        try:
            async with asyncio.timeout(self._settings.send_timeout_s):
                await self._outbox.put(item)
        except TimeoutError:
            self._metrics.timeouts.inc()
            limit = self._settings.send_queue_max
            log.warning(
                "closing slow websocket consumer %s: %d messages queued for %g s",
                self._ws.client,
                limit,
                self._settings.send_timeout_s,
            )
            self._finish(_Close(TRY_AGAIN_LATER, f"slow consumer: {limit} messages unsent"))
            raise _Closing from None

    async def _write(self) -> None:
        while True:
            item = await self._outbox.get()
            if isinstance(item, _Close):
                if item.force or not self._followers:
                    self._finish(item)
                    return
                continue  # a new run was followed after the others ended
            try:
                await self._ws.send_text(item)
                self._metrics.bytes_sent.inc(len(item))  # characters: JSON is mostly ASCII
            except (WebSocketDisconnect, OSError):
                self._finish(None)
                return

    async def _close(self, close: _Close) -> None:
        reason = close.reason.encode()[:_MAX_REASON_BYTES].decode(errors="ignore")
        # A client that reads nothing cannot take a close frame either: give
        # up after close_timeout_s and let the server drop the connection.
        with contextlib.suppress(TimeoutError, WebSocketDisconnect, OSError, RuntimeError):
            async with asyncio.timeout(self._settings.close_timeout_s):
                await self._ws.close(close.code, reason)

    async def _cancel_abandoned_runs(self) -> None:
        for run_id, thread_id in self._cancel_on_disconnect.items():
            if self._runs.is_active(run_id):
                with contextlib.suppress(SwitchyardError):
                    await self._runs.cancel(thread_id, run_id)

    # -- client messages ------------------------------------------------------

    async def _read(self) -> None:
        while True:
            idle_s = None if self._followers else self._settings.idle_timeout_s
            try:
                async with asyncio.timeout(idle_s):
                    message = await self._ws.receive()
            except TimeoutError:
                await self._put(_Close(GOING_AWAY, f"idle: no message for {idle_s:g} s"))
                return
            if message["type"] == "websocket.disconnect":
                self._finish(None)
                return
            text = message.get("text")
            if text is None:
                await self._put(error_message(InvalidInput("send messages as JSON text frames")))
                continue
            try:
                await self._handle(text)
            except _PolicyViolation as exc:
                await self._put(error_message(exc.error, run_id=exc.run_id))
                await self._put(_Close(POLICY_VIOLATION, exc.error.message))
            except SwitchyardError as exc:
                await self._put(error_message(exc))

    async def _handle(self, text: str) -> None:
        if len(text) > self._max_message:
            raise PayloadTooLarge(f"message exceeds the limit of {self._max_message} bytes")
        message = parse(text)
        if isinstance(message, AuthMessage) or needs_authentication(self._ws):
            await self._authenticate(message)
        elif isinstance(message, Ping):
            await self._put(pong_message())
        elif isinstance(message, RunRequest):
            await self._start_run(message)
        elif isinstance(message, Subscribe):
            await self._subscribe(message)
        elif isinstance(message, Cancel):
            await self._cancel(message)

    async def _authenticate(self, message: object) -> None:
        if not isinstance(message, AuthMessage):
            raise _PolicyViolation(Unauthorized("send {'type': 'auth', ...} first"))
        state = request_auth(self._ws)
        if state is not None and state.enabled and state.user is not None:
            raise InvalidInput("this socket is already authenticated")
        try:
            user = await authenticate_message(
                self._ws,
                token=message.token,
                api_key=message.api_key,
                stream_token=message.stream_token,
            )
        except (Unauthorized, AccessDenied) as exc:
            raise _PolicyViolation(exc) from None
        await self._put(authenticated_message(user.identity))

    async def _visible_run(self, run_id: str, operation: str) -> Any:
        """The run if this socket's user may ``operation`` it (always, with auth off);
        None with auth off for a run no longer known (its log may remain)."""
        state = request_auth(self._ws)
        if state is None or not state.enabled:
            return await self._runs.find_any(run_id)
        if state.stream_run is not None and state.stream_run[1] != run_id:
            raise _PolicyViolation(RunNotFound(f"unknown run {run_id}"), run_id)
        found = await self._runs.find_any(run_id)
        if found is None:
            raise _PolicyViolation(RunNotFound(f"unknown run {run_id}"), run_id)
        try:
            return await run_for(self._ws, found.thread_id, run_id, operation)
        except RunNotFound as exc:
            raise _PolicyViolation(exc, run_id) from None

    def _check_can_follow(self, run_id: str | None) -> None:
        if run_id is not None and run_id in self._followers:
            raise InvalidInput(f"run {run_id} is already followed on this socket")
        if len(self._followers) >= self._settings.max_runs:
            raise InvalidInput(
                f"this socket already follows {self._settings.max_runs} runs, the limit"
            )

    async def _start_run(self, request: RunRequest) -> None:
        self._check_can_follow(None)
        try:
            async with admit_runs(
                self._ws, [request.body], request.thread_id, self._runs.is_active
            ) as admission:
                run = await self._runs.create(
                    admission.bodies[0],
                    thread_id=request.thread_id,
                    filters=admission.filters[0],
                    thread_metadata=admission.thread_metadata[0],
                )
                admission.bind([run.run_id])
        except AssistantNotFound as exc:
            raise _PolicyViolation(exc) from None
        if request.body.on_disconnect == "cancel":
            self._cancel_on_disconnect[run.run_id] = run.thread_id
        nodes = await self._progress_nodes(run.assistant_id, request.body.stream_modes)
        delta = "delta" in request.body.stream_modes
        self._follow(RunTracker(run.run_id, nodes, delta=delta), after=None, announce=True)

    async def _subscribe(self, message: Subscribe) -> None:
        self._check_can_follow(message.run_id)
        run = await self._visible_run(message.run_id, "read")
        nodes = None  # a run no longer known; its log may remain
        if run is not None:
            modes = stream_modes_of(run.kwargs.get("stream_mode"))
            nodes = await self._progress_nodes(run.assistant_id, modes)
        tracker = RunTracker(message.run_id, nodes, delta=run is not None and "delta" in modes)
        self._follow(tracker, after=message.last_event_id, announce=False)

    async def _cancel(self, message: Cancel) -> None:
        run = await self._visible_run(message.run_id, "update")
        if run is None:
            raise _PolicyViolation(RunNotFound(f"unknown run {message.run_id}"), message.run_id)
        await self._runs.cancel(run.thread_id, run.run_id, action=message.action)

    async def _progress_nodes(
        self, assistant_id: str, stream_modes: list[str]
    ) -> frozenset[str] | None:
        """The nodes progress counts, or None where it would be a guess."""
        if not PROGRESS_MODES.intersection(stream_modes):
            return None  # the log will not say when a node completes
        try:
            graph_id, _ = self._services.assistants.resolve(assistant_id)
        except AssistantNotFound:
            return None  # its graph is gone: the shape is unknown, not guessed
        return linear_nodes(await self._services.registry.get(graph_id))

    # -- following a run ------------------------------------------------------

    def _follow(self, tracker: RunTracker, *, after: str | None, announce: bool) -> None:
        work = self._guarded(self._run_follower(tracker, after=after, announce=announce))
        self._followers[tracker.run_id] = asyncio.create_task(work)

    async def _run_follower(
        self, tracker: RunTracker, *, after: str | None, announce: bool
    ) -> None:
        run_id = tracker.run_id
        outcome: asyncio.Future[RunOutcome | None] | None = None
        if self._runs.is_active(run_id):
            # Taken now: once the run ends the manager forgets it, and its
            # outcome (with the measured execution time) goes with it.
            outcome = asyncio.ensure_future(self._runs.wait(run_id))
        try:
            reported = await self._report(tracker, None) if announce else None
            async for event, replayed in self._events(tracker, after):
                tracker.observe(event)
                if replayed:
                    continue
                await self._put(event_message(run_id, event))
                if not tracker.finished:
                    reported = await self._report(tracker, reported)
            if tracker.finished:
                done = await outcome if outcome is not None else None
                await self._report(tracker, None, outcome=done)
        except RunNotFound as exc:
            if not await self._report_forgotten(run_id, exc):
                return
        except EventsExpired as exc:
            await self._put(error_message(exc, run_id=run_id))
        finally:
            if outcome is not None:
                outcome.cancel()
            self._followers.pop(run_id, None)
        if not self._followers:
            await self._put(_Close(NORMAL, "followed runs ended", force=False))

    async def _events(
        self, tracker: RunTracker, after: str | None
    ) -> AsyncIterator[tuple[Event, bool]]:
        """The run's events through ``resume`` (the replay every transport
        uses), each flagged ``replayed`` if at or before ``after``.

        Reading from the start lets the tracker learn progress from events the
        client already has; when the log no longer starts at the beginning,
        it resumes from ``after`` alone.
        """
        cut = parse_event_id(after) if after is not None else None
        started = False
        try:
            async for batch in resume(self._runs.events, tracker.run_id, delta=tracker.delta):
                for event in batch:
                    started = True
                    yield event, cut is not None and parse_event_id(event.id) <= cut
            return
        except EventsExpired:
            if started or after is None:
                raise
        # The run has emitted events, so it has started; which nodes finished
        # before ``after`` is unknown, so progress is too.
        tracker.status, tracker.nodes = "running", None
        async for batch in resume(
            self._runs.events, tracker.run_id, after=after, delta=tracker.delta
        ):
            for event in batch:
                yield event, False

    async def _report(
        self,
        tracker: RunTracker,
        last: tuple[str, float | None] | None,
        *,
        outcome: RunOutcome | None = None,
    ) -> tuple[str, float | None]:
        """Send a status message if (status, progress) changed since ``last``."""
        now = (tracker.status, tracker.progress)
        if now != last:
            execution_time = None
            if tracker.finished:
                measured = outcome.execution_time if outcome is not None else None
                execution_time = measured if measured is not None else tracker.log_seconds
            await self._put(
                status_message(
                    tracker.run_id,
                    tracker.status,
                    progress=tracker.progress,
                    error=tracker.error,
                    execution_time=execution_time,
                )
            )
        return now

    async def _report_forgotten(self, run_id: str, exc: RunNotFound) -> bool:
        """No event log: a stored run gets its status, an unknown one a 1008 close."""
        run = await self._runs.find_any(run_id)
        if run is None:
            await self._put(error_message(exc, run_id=run_id))
            await self._put(_Close(POLICY_VIOLATION, f"unknown run {run_id}"))
            return False
        gone = EventsExpired(f"events of run {run_id} are no longer retained")
        await self._put(error_message(gone, run_id=run_id))
        await self._put(status_message(run_id, run.status, progress=None))
        return True
