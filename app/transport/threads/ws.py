"""``WS /threads/{id}/stream/events``: the thread protocol over one WebSocket.

Every text frame the client sends is a command (the Python SDK sends only
``subscription.subscribe``; the JavaScript SDK sends every command here,
``run.start`` included) and gets its envelope back on the socket. Each
subscription is its own reader of the thread's protocol events with its own
filter and cursor, so a subscription added mid-run still replays the run
from its start; an event two subscriptions match is sent twice and the
clients drop the second by ``event_id``, as they do after any reconnect.

* ``subscription.subscribe`` ``{channels, namespaces?, depth?, since?}`` →
  ``{"subscription_id"}``;
* ``subscription.unsubscribe`` ``{subscription_id}`` → ``{}``;
* ``subscription.reconnect`` ``{run_id, last_event_id?, subscriptions?}``
  restarts the named subscriptions (default: all) from the event after
  ``last_event_id`` → ``{"restored": true}``;
* anything else runs as on ``POST /threads/{id}/commands``.

The socket is accepted before the thread exists: a client opens it, then
sends ``run.start``, which creates the thread. A reader whose history is
gone sends ``{"type": "error", "id": null, "error": "resume_gap"}`` and the
socket closes with 4410 (4000 + the HTTP status, which the SDKs read as
"do not retry").
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from app import serde
from app.endpoints.http import describe_validation_error
from app.errors import SwitchyardError
from app.observability.metrics import StreamMetrics
from app.services import Services
from app.transport.threads.commands import (
    Command,
    CommandFailed,
    error_envelope,
    parse_command,
    run_command,
)
from app.transport.threads.stream import protocol_batches, seq_of_event_id
from app.transport.threads.subscription import EventFilter, matches

__all__ = ["ProtocolSession"]

log = logging.getLogger("switchyard.threads.ws")


class ProtocolSession:
    def __init__(self, websocket: WebSocket, services: Services, thread_id: str) -> None:
        self._ws = websocket
        self._services = services
        self._thread_id = thread_id
        self._send_lock = asyncio.Lock()
        self._ids = itertools.count(1)
        self._filters: dict[str, EventFilter] = {}
        self._pumps: dict[str, asyncio.Task[None]] = {}
        observability = services.observability
        self._metrics = observability.streams["ws"] if observability else StreamMetrics(None, "ws")

    async def serve(self) -> None:
        await self._ws.accept()
        self._metrics.open.inc()
        try:
            while True:
                await self._handle(await self._ws.receive_text())
        except WebSocketDisconnect:
            self._metrics.closed_by_client.inc()
        finally:
            self._metrics.open.dec()
            for pump in self._pumps.values():
                pump.cancel()
            for pump in list(self._pumps.values()):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pump

    async def _send(self, message: dict[str, Any]) -> None:
        async with self._send_lock:
            text = serde.dumps(message).decode()
            await self._ws.send_text(text)
            self._metrics.bytes_sent.inc(len(text))  # characters: JSON is mostly ASCII

    async def _handle(self, text: str) -> None:
        command_id: int | None = None
        try:
            try:
                data = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                raise CommandFailed("invalid_argument", f"frame is not JSON: {exc}") from None
            if isinstance(data, dict) and isinstance(data.get("id"), int):
                command_id = data["id"]
            command = parse_command(data)
            reply = await self._run(command)
        except CommandFailed as failure:
            reply = error_envelope(command_id, failure)
        await self._send(reply)

    async def _run(self, command: Command) -> dict[str, Any]:
        params = command.params
        if command.method == "subscription.subscribe":
            result: Any = {"subscription_id": self._subscribe(_filter(params))}
        elif command.method == "subscription.unsubscribe":
            self._unsubscribe(str(params.get("subscription_id", "")))
            result = {}
        elif command.method == "subscription.reconnect":
            result = self._reconnect(params)
        else:
            return await run_command(self._services, self._thread_id, command, self._ws)
        return {"type": "success", "id": command.id, "result": result}

    def _subscribe(self, wanted: EventFilter, subscription_id: str | None = None) -> str:
        subscription_id = subscription_id or f"sub-{next(self._ids)}"
        self._filters[subscription_id] = wanted
        self._pumps[subscription_id] = asyncio.create_task(self._pump(wanted))
        return subscription_id

    def _unsubscribe(self, subscription_id: str) -> None:
        pump = self._pumps.pop(subscription_id, None)
        self._filters.pop(subscription_id, None)
        if pump is None:
            raise CommandFailed(
                "no_such_subscription", f"no subscription {subscription_id!r} on this socket", 404
            )
        pump.cancel()

    def _reconnect(self, params: dict[str, Any]) -> dict[str, Any]:
        last = params.get("last_event_id")
        since = seq_of_event_id(last) if isinstance(last, str) else None
        if isinstance(last, str) and since is None:
            raise CommandFailed("invalid_argument", f"last_event_id {last!r} is not an event_id")
        names = params.get("subscriptions") or list(self._filters)
        unknown = [n for n in names if n not in self._filters]
        if unknown:
            raise CommandFailed("no_such_subscription", f"no subscriptions {unknown}", 404)
        for name in names:
            wanted = self._filters[name].model_copy(update={"since": since})
            self._pumps.pop(name).cancel()
            self._subscribe(wanted, name)
        return {"restored": True}

    async def _pump(self, wanted: EventFilter) -> None:
        try:
            async for batch in protocol_batches(self._services, self._thread_id, wanted.since):
                for event in batch:
                    if matches(event, wanted):
                        await self._send(event)
        except SwitchyardError as exc:
            failure = {"type": "error", "id": None, "error": exc.code.value, "message": exc.message}
            with contextlib.suppress(Exception):
                await self._send(failure)
                await self._ws.close(code=4000 + exc.status_code, reason=exc.code.value)
        except (WebSocketDisconnect, RuntimeError):
            pass  # the client left while we were sending
        except Exception:
            log.exception("thread stream of %s failed", self._thread_id)


def _filter(params: dict[str, Any]) -> EventFilter:
    try:
        return EventFilter.model_validate(params)
    except ValidationError as exc:
        raise CommandFailed("invalid_argument", describe_validation_error(exc)) from None
