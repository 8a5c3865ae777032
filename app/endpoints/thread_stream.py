"""Thread streams: the thread streaming protocol and the thread join.

Thin handlers over ``app.transport.threads`` (see its modules for the wire):

* ``POST /threads/{id}/commands``: one protocol command, one envelope;
* ``POST /threads/{id}/stream/events``: the protocol's events as SSE, for the
  filter in the body (``channels``, ``namespaces``, ``depth``, ``since``);
* ``WS /threads/{id}/stream/events``: commands and events on one socket;
* ``GET /threads/{id}/stream``: the thread's runs' events as run-API SSE.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from app.auth.access import as_id, authorize
from app.endpoints.http import JSONResponse, read_json, validate
from app.errors import InvalidInput, MalformedJSON, SwitchyardError, ThreadNotFound
from app.services import Services, services_of
from app.transport.sse_response import EventStreamResponse
from app.transport.threads.commands import (
    CommandFailed,
    error_envelope,
    parse_command,
    run_command,
)
from app.transport.threads.cursor import parse_since
from app.transport.threads.sse import JOIN_MODES, protocol_chunks, thread_join_chunks
from app.transport.threads.stream import protocol_batches, seq_of_event_id
from app.transport.threads.subscription import EventFilter
from app.transport.threads.ws import ProtocolSession

__all__ = ["commands", "join", "stream_events", "stream_events_ws"]


async def _existing(conn: HTTPConnection, services: Services, thread_id: str) -> None:
    """The thread exists and the caller may read it (another user's looks missing)."""
    filters = await authorize(conn, "threads", "read", {"thread_id": as_id(thread_id)})
    if await services.storage.threads.get(thread_id, filters=filters) is None:
        raise ThreadNotFound(
            f"thread {thread_id} not found; a thread is created by its first run.start"
        )


async def _commandable(request: Request, services: Services, thread_id: str) -> None:
    """Commands act on the thread (runs, cancels): ``threads.update``. A thread that
    does not exist yet may be created by ``run.start``; one that exists must be the
    caller's."""
    filters = await authorize(request, "threads", "update", {"thread_id": as_id(thread_id)})
    threads = services.storage.threads
    if (
        filters
        and await threads.get(thread_id, filters=filters) is None
        and await threads.get(thread_id) is not None
    ):
        raise CommandFailed("not_found", f"thread {thread_id} not found", status=404)


async def commands(request: Request) -> Response:
    services = services_of(request)
    thread_id = request.path_params["thread_id"]
    data = None
    try:
        try:
            data = await read_json(request, max_bytes=services.settings.runs.max_body_bytes)
        except MalformedJSON as exc:
            raise CommandFailed("invalid_argument", exc.message) from None
        await _commandable(request, services, thread_id)
        command = parse_command(data)
        envelope = await run_command(services, thread_id, command, request)
    except CommandFailed as failure:
        command_id = data.get("id") if isinstance(data, dict) else None
        body = error_envelope(command_id if isinstance(command_id, int) else None, failure)
        body.update(detail=failure.message, code=failure.code)
        return JSONResponse(body, status_code=failure.status)
    return JSONResponse(envelope)


async def stream_events(request: Request) -> Response:
    services = services_of(request)
    thread_id = request.path_params["thread_id"]
    data = await read_json(request, max_bytes=services.settings.runs.max_body_bytes)
    wanted = validate(EventFilter, data)
    since = wanted.since
    last_event_id = request.headers.get("last-event-id")
    if since is None and last_event_id:
        since = seq_of_event_id(last_event_id)
        if since is None:
            raise InvalidInput(f"Last-Event-ID {last_event_id!r} is not an event_id of this stream")
    await _existing(request, services, thread_id)
    sse = services.settings.sse
    return EventStreamResponse(
        protocol_chunks(protocol_batches(services, thread_id, since), wanted, sse.heartbeat_s),
        streams=services.streams,
        send_timeout_s=sse.send_timeout_s,
    )


async def stream_events_ws(websocket: WebSocket) -> None:
    services = services_of(websocket)
    thread_id = websocket.path_params["thread_id"]
    try:
        # A thread that does not exist yet may be started over the socket;
        # one that exists must be the caller's.
        filters = await authorize(websocket, "threads", "read", {"thread_id": as_id(thread_id)})
        threads = services.storage.threads
        if (
            filters
            and await threads.get(thread_id, filters=filters) is None
            and await threads.get(thread_id) is not None
        ):
            raise ThreadNotFound(f"thread {thread_id} not found")
    except SwitchyardError as exc:  # before accepting: the handshake is refused
        await websocket.close(1008, exc.message[:120])
        return
    await ProtocolSession(websocket, services, websocket.path_params["thread_id"]).serve()


async def join(request: Request) -> Response:
    services = services_of(request)
    thread_id = request.path_params["thread_id"]
    modes = [m for m in request.query_params.getlist("stream_mode") if m] or ["run_modes"]
    unknown = sorted(set(modes) - JOIN_MODES)
    if unknown:
        raise InvalidInput(f"unknown stream_mode {unknown}; expected some of {sorted(JOIN_MODES)}")
    since = parse_since(
        request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    )
    await _existing(request, services, thread_id)
    sse = services.settings.sse
    return EventStreamResponse(
        thread_join_chunks(
            services, thread_id, since=since, modes=modes, keepalive_s=sse.heartbeat_s
        ),
        streams=services.streams,
        send_timeout_s=sse.send_timeout_s,
    )
