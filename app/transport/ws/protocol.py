"""The ``/ws`` message vocabulary: parsing what clients send, framing what they get.

Client → server (one JSON object per text frame)::

    {"type": "ping"}
    {"type": "run", "thread_id"?: ..., ...a run-create body (RunCreate)...}
    {"type": "subscribe", "run_id": ..., "last_event_id"?: ...}
    {"type": "cancel", "run_id": ..., "action"?: "interrupt" | "rollback"}
    {"type": "auth", "token" | "api_key" | "stream_token": ...}   first, when auth is on
                                                                 and the handshake had none

Server → client::

    {"type": "pong"}
    {"type": "authenticated", "identity"}
    {"type": "event", "run_id", "id", "event", "data"}
    {"type": "status", "run_id", "status", "progress", "error", "execution_time"}
    {"type": "error", "message", "code", "run_id"?}

``parse`` turns a frame into one of the message models or raises
``InvalidInput`` (``MalformedJSON`` for bytes that are not JSON) with a
message fit to send back. Event frames splice the stored event bytes in
as they are: an event is serialised once, however many sockets carry it.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from app import serde
from app.endpoints.http import describe_validation_error, validate
from app.errors import InvalidInput, MalformedJSON, SwitchyardError
from app.events import Event
from app.schemas import RunCreate
from app.transport.cursor import resume_cursor

__all__ = [
    "AuthMessage",
    "Cancel",
    "Ping",
    "RunRequest",
    "Subscribe",
    "authenticated_message",
    "error_message",
    "event_message",
    "parse",
    "pong_message",
    "status_message",
]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Ping(_Message):
    type: Literal["ping"]


class Subscribe(_Message):
    type: Literal["subscribe"]
    run_id: str = Field(min_length=1)
    last_event_id: str | None = None

    @field_validator("last_event_id")
    @classmethod
    def _event_id(cls, value: str | None) -> str | None:
        # "-", "-1", "0", "0-0": from the start, as on the SSE stream.
        try:
            return resume_cursor(value)
        except InvalidInput as exc:
            raise ValueError(exc.message) from None


class Cancel(_Message):
    type: Literal["cancel"]
    run_id: str = Field(min_length=1)
    action: Literal["interrupt", "rollback"] = "interrupt"


class AuthMessage(_Message):
    """Credentials for a socket whose handshake carried none (browsers cannot set headers)."""

    type: Literal["auth"]
    token: str | None = Field(None, min_length=1, description="As Authorization: Bearer.")
    api_key: str | None = Field(None, min_length=1, description="As X-Api-Key.")
    stream_token: str | None = Field(None, min_length=1, description="A run's stream token.")

    @model_validator(mode="after")
    def _one(self) -> AuthMessage:
        given = [v for v in (self.token, self.api_key, self.stream_token) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of token, api_key, stream_token")
        return self


class RunRequest(BaseModel):
    """A ``run`` message: where to run (``thread_id``, None = stateless) and the body."""

    thread_id: str | None
    body: RunCreate


_SIMPLE: dict[str, type[_Message]] = {
    "ping": Ping,
    "subscribe": Subscribe,
    "cancel": Cancel,
    "auth": AuthMessage,
}
TYPES = ("ping", "run", "subscribe", "cancel", "auth")


def parse(text: str) -> Ping | Subscribe | Cancel | RunRequest | AuthMessage:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise MalformedJSON(f"message is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput("message must be a JSON object with a 'type'")
    kind = data.get("type")
    if kind == "run":
        fields = {k: v for k, v in data.items() if k not in ("type", "thread_id")}
        thread_id = data.get("thread_id")
        if thread_id is not None and (not isinstance(thread_id, str) or not thread_id):
            raise InvalidInput("run: thread_id must be a non-empty string or omitted")
        try:
            body = validate(RunCreate, fields)
        except InvalidInput as exc:
            raise InvalidInput(f"run: {exc.message}") from None
        return RunRequest(thread_id=thread_id, body=body)
    model = _SIMPLE.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise InvalidInput(f"unknown message type {kind!r}; expected one of {list(TYPES)}")
    try:
        return model.model_validate(data)  # type: ignore[return-value]
    except ValidationError as exc:
        raise InvalidInput(f"{kind}: {describe_validation_error(exc)}") from None


def pong_message() -> str:
    return '{"type":"pong"}'


def authenticated_message(identity: str) -> str:
    return serde.dumps({"type": "authenticated", "identity": identity}).decode()


def event_message(run_id: str, event: Event) -> str:
    head = b'{"type":"event","run_id":' + serde.dumps(run_id)
    head += b',"id":' + serde.dumps(event.id) + b',"event":' + serde.dumps(event.event)
    return (head + b',"data":' + event.data + b"}").decode()


def status_message(
    run_id: str,
    status: str,
    *,
    progress: float | None,
    error: dict[str, Any] | None = None,
    execution_time: float | None = None,
) -> str:
    return serde.dumps(
        {
            "type": "status",
            "run_id": run_id,
            "status": status,
            "progress": progress,
            "error": error,
            "execution_time": execution_time,
        }
    ).decode()


def error_message(exc: SwitchyardError, *, run_id: str | None = None) -> str:
    body: dict[str, Any] = {"type": "error", "message": exc.message, "code": exc.code.value}
    if run_id is not None:
        body["run_id"] = run_id
    return serde.dumps(body).decode()
