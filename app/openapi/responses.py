"""What the endpoints answer, as pydantic models for the OpenAPI document.

Requests are described by the very models the endpoints validate with
(``app.schemas``); responses are plain dicts built by ``to_json`` and
``snapshot_json``, so these models describe them. They drift only where a
test would see it: the schemathesis run (``tests/app/test_openapi.py``)
checks every response against this document. Responses allow properties
beyond those listed (a newer server may add some); requests do not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from routers.rulebook import ReloadResult

__all__ = [
    "Assistant",
    "AssistantSchemas",
    "BatchItemResult",
    "BatchResults",
    "Checkpoint",
    "ErrorBody",
    "Info",
    "Ok",
    "ReloadRefused",
    "ReloadResult",
    "Run",
    "StateUpdated",
    "Thread",
    "ThreadState",
]

RunStatus = Literal["pending", "running", "success", "error", "timeout", "interrupted"]


class _Out(BaseModel):
    # extra="ignore" (pydantic's default): the schema leaves additional
    # properties allowed, as it should for answers a newer server may extend.
    model_config = ConfigDict(extra="ignore")


class ErrorBody(_Out):
    """Every 4xx/5xx: what is wrong and how to fix it, and a stable code."""

    detail: str
    code: str


class Ok(_Out):
    ok: Literal[True]


class Info(_Out):
    name: str
    version: str
    langgraph_py_version: str
    flags: dict[str, Any]
    storage: str
    open_streams: int = Field(ge=0)
    graphs: dict[str, dict[str, Any]]


class Assistant(_Out):
    assistant_id: str
    graph_id: str
    name: str
    description: str | None
    config: dict[str, Any]
    context: dict[str, Any]
    metadata: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime


class AssistantSchemas(_Out):
    graph_id: str
    input_schema: dict[str, Any] | None
    output_schema: dict[str, Any] | None
    state_schema: dict[str, Any] | None
    config_schema: dict[str, Any] | None
    context_schema: dict[str, Any] | None


class Thread(_Out):
    thread_id: str
    created_at: datetime
    updated_at: datetime
    metadata: dict[str, Any]
    status: Literal["idle", "busy", "interrupted", "error"]
    values: dict[str, Any] | None
    interrupts: dict[str, Any]


class Checkpoint(_Out):
    thread_id: str | None
    checkpoint_ns: str
    checkpoint_id: str | None
    checkpoint_map: dict[str, Any] | None


class Task(_Out):
    id: str
    name: str
    path: list[Any]
    error: str | None
    interrupts: list[Any]
    checkpoint: Checkpoint | None
    state: ThreadState | None
    result: Any


class ThreadState(_Out):
    values: Any
    next: list[str]
    checkpoint: Checkpoint | None
    metadata: dict[str, Any]
    created_at: str | None
    parent_checkpoint: Checkpoint | None
    tasks: list[Task]
    interrupts: list[Any]


class StateUpdated(_Out):
    checkpoint: Checkpoint | None


class Run(_Out):
    run_id: str
    thread_id: str
    assistant_id: str
    created_at: datetime
    updated_at: datetime
    status: RunStatus
    metadata: dict[str, Any]
    multitask_strategy: Literal["reject", "enqueue", "interrupt", "rollback"]
    run_kwargs: dict[str, Any] = Field(serialization_alias="kwargs", description="its body")
    progress: dict[str, Any] | None = Field(
        None,
        description="while it executes here: steps, total, fraction, node, attempt, retries",
    )


class BatchItemResult(_Out):
    index: int = Field(ge=0)
    run_id: str | None
    status: Literal["success", "error", "timeout", "interrupted"]
    output: Any = None
    error: dict[str, Any] | None = None
    thread_id: str | None = None


class BatchResults(_Out):
    results: list[BatchItemResult]


class ReloadRefused(ReloadResult):
    """A 422 of ``POST /rules/reload``: the refused reload, and why."""

    detail: str


Task.model_rebuild()
