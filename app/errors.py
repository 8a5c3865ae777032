"""The exceptions Switchyard raises on purpose, and the codes clients see.

    SwitchyardError                 500 internal
    ├── InvalidInput                422 invalid_input    (body or query does not validate)
    │   ├── MalformedJSON           400 malformed_json
    │   ├── InputSchemaMismatch     422 input_schema     (input does not fit the graph)
    │   └── FlowInvalid             422 invalid_flow     (every problem, with its JSON path)
    ├── PayloadTooLarge             413 payload_too_large
    ├── Unauthorized                401 unauthorized     (no or bad credentials)
    ├── AccessDenied                403 forbidden        (an auth handler refused; or its status)
    ├── TooManyRuns                 429 too_many_runs    (the user's concurrent-run limit)
    ├── NotFound                    404 not_found
    │   ├── AssistantNotFound       404 assistant_not_found
    │   ├── ThreadNotFound          404 thread_not_found
    │   ├── RunNotFound             404 run_not_found
    │   ├── CheckpointNotFound      404 checkpoint_not_found
    │   ├── FlowNotFound            404 flow_not_found
    │   └── McpServerNotFound       404 mcp_server_not_found
    ├── Conflict                    409 conflict
    │   ├── RunConflict             409 run_conflict     (multitask_strategy="reject")
    │   ├── ThreadExists            409 thread_exists
    │   └── FlowExists              409 flow_exists      (id taken by a flow or a code graph)
    ├── McpUnavailable              502 mcp_unavailable  (an MCP server failed to answer)
    ├── RunTimeout                  --- timeout          (only ever an SSE/JSON error body)
    ├── RunCancelled                --- cancelled
    ├── WorkerDied                  --- worker_died      (its instance died; recovery=fail)
    ├── EventsExpired               410 events_expired   (asked to resume before the log)
    │   └── ResumeGap               410 resume_gap       (a thread stream's cursor, likewise)
    └── BackendUnavailable          503 backend_unavailable (Postgres/Redis unreachable)

Every level is a meaningful ``except`` target. ``http_status`` and ``headers``
are what an HTTP response carries (``WWW-Authenticate``, ``Retry-After``).
``to_body`` is the one place an error becomes the JSON that both HTTP
responses and SSE ``error`` events carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, ClassVar

__all__ = [
    "AccessDenied",
    "AssistantNotFound",
    "BackendUnavailable",
    "CheckpointNotFound",
    "Conflict",
    "ErrorCode",
    "EventsExpired",
    "FlowExists",
    "FlowInvalid",
    "FlowNotFound",
    "InputSchemaMismatch",
    "InvalidInput",
    "MalformedJSON",
    "McpServerNotFound",
    "McpUnavailable",
    "NotFound",
    "PayloadTooLarge",
    "ResumeGap",
    "RunCancelled",
    "RunConflict",
    "RunNotFound",
    "RunTimeout",
    "SwitchyardError",
    "ThreadExists",
    "ThreadNotFound",
    "TooManyRuns",
    "Unauthorized",
    "WorkerDied",
    "error_body",
]


class ErrorCode(StrEnum):
    INTERNAL = "internal"
    INVALID_INPUT = "invalid_input"
    MALFORMED_JSON = "malformed_json"
    INPUT_SCHEMA = "input_schema"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    NOT_FOUND = "not_found"
    ASSISTANT_NOT_FOUND = "assistant_not_found"
    THREAD_NOT_FOUND = "thread_not_found"
    RUN_NOT_FOUND = "run_not_found"
    CHECKPOINT_NOT_FOUND = "checkpoint_not_found"
    CONFLICT = "conflict"
    RUN_CONFLICT = "run_conflict"
    THREAD_EXISTS = "thread_exists"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    EVENTS_EXPIRED = "events_expired"
    BACKEND_UNAVAILABLE = "backend_unavailable"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    TOO_MANY_RUNS = "too_many_runs"
    RESUME_GAP = "resume_gap"
    WORKER_DIED = "worker_died"
    INVALID_FLOW = "invalid_flow"
    FLOW_NOT_FOUND = "flow_not_found"
    FLOW_EXISTS = "flow_exists"
    MCP_SERVER_NOT_FOUND = "mcp_server_not_found"
    MCP_UNAVAILABLE = "mcp_unavailable"


WWW_AUTHENTICATE = 'Bearer realm="switchyard"'


class SwitchyardError(Exception):
    status_code: ClassVar[int] = 500
    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL

    def __init__(self, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = dict(headers) if headers else None

    @property
    def http_status(self) -> int:
        return self.status_code

    def to_body(self) -> dict[str, Any]:
        return {"detail": self.message, "code": self.code.value}


class InvalidInput(SwitchyardError):
    status_code = 422
    code = ErrorCode.INVALID_INPUT


class MalformedJSON(InvalidInput):
    status_code = 400
    code = ErrorCode.MALFORMED_JSON


class InputSchemaMismatch(InvalidInput):
    code = ErrorCode.INPUT_SCHEMA


class FlowInvalid(InvalidInput):
    """A flow document with problems; the body lists them all (``path``, ``message``, ``code``)."""

    code = ErrorCode.INVALID_FLOW

    def __init__(self, message: str, problems: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.problems = problems

    def to_body(self) -> dict[str, Any]:
        return {**super().to_body(), "problems": self.problems}


class PayloadTooLarge(SwitchyardError):
    status_code = 413
    code = ErrorCode.PAYLOAD_TOO_LARGE


class Unauthorized(SwitchyardError):
    status_code = 401
    code = ErrorCode.UNAUTHORIZED

    def __init__(self, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        # RFC 7235: a 401 names the scheme that would work.
        super().__init__(message, headers=headers or {"WWW-Authenticate": WWW_AUTHENTICATE})


class AccessDenied(SwitchyardError):
    """An authorization handler said no: 403, or the status its exception named."""

    status_code = 403
    code = ErrorCode.FORBIDDEN

    def __init__(
        self, message: str, *, status: int = 403, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message, headers=headers)
        self._status = status

    @property
    def http_status(self) -> int:
        return self._status

    def to_body(self) -> dict[str, Any]:
        code = {401: ErrorCode.UNAUTHORIZED, 404: ErrorCode.NOT_FOUND}.get(self._status, self.code)
        return {"detail": self.message, "code": code.value}


class TooManyRuns(SwitchyardError):
    status_code = 429
    code = ErrorCode.TOO_MANY_RUNS


class NotFound(SwitchyardError):
    status_code = 404
    code = ErrorCode.NOT_FOUND


class AssistantNotFound(NotFound):
    code = ErrorCode.ASSISTANT_NOT_FOUND


class ThreadNotFound(NotFound):
    code = ErrorCode.THREAD_NOT_FOUND


class RunNotFound(NotFound):
    code = ErrorCode.RUN_NOT_FOUND


class CheckpointNotFound(NotFound):
    code = ErrorCode.CHECKPOINT_NOT_FOUND


class FlowNotFound(NotFound):
    code = ErrorCode.FLOW_NOT_FOUND


class McpServerNotFound(NotFound):
    code = ErrorCode.MCP_SERVER_NOT_FOUND


class Conflict(SwitchyardError):
    status_code = 409
    code = ErrorCode.CONFLICT


class RunConflict(Conflict):
    code = ErrorCode.RUN_CONFLICT


class ThreadExists(Conflict):
    code = ErrorCode.THREAD_EXISTS


class FlowExists(Conflict):
    code = ErrorCode.FLOW_EXISTS


class McpUnavailable(SwitchyardError):
    status_code = 502
    code = ErrorCode.MCP_UNAVAILABLE


class RunTimeout(SwitchyardError):
    code = ErrorCode.TIMEOUT


class RunCancelled(SwitchyardError):
    code = ErrorCode.CANCELLED


class WorkerDied(SwitchyardError):
    """The instance executing a run died and the run was not resumed."""

    code = ErrorCode.WORKER_DIED


class EventsExpired(SwitchyardError):
    status_code = 410
    code = ErrorCode.EVENTS_EXPIRED


class ResumeGap(EventsExpired):
    code = ErrorCode.RESUME_GAP


class BackendUnavailable(SwitchyardError):
    """A shared backend (Postgres, Redis) stayed unreachable past its retry window."""

    status_code = 503
    code = ErrorCode.BACKEND_UNAVAILABLE


def error_body(exc: BaseException) -> dict[str, Any]:
    """The body of an SSE ``error`` event: ``{"error": <Type>, "message": ...}``."""
    code = exc.code.value if isinstance(exc, SwitchyardError) else ErrorCode.INTERNAL.value
    return {"error": type(exc).__name__, "message": str(exc) or type(exc).__name__, "code": code}


# A graph spec that fails to load is ``graphs.loader.GraphLoadError``: it stops
# startup (or marks the graph failed with skip_broken) and never reaches a client.
