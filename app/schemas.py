"""Request bodies, validated with pydantic; unknown fields are a 422.

Field names and defaults follow the LangGraph Server API (``openapi.json`` of
``langgraph-api``) so ``langgraph-sdk`` and ``RemoteGraph`` work unchanged.
Fields that API defines but Switchyard does not implement are rejected with a
message naming them, rather than accepted and ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.store.base import ThreadStatus

StreamMode = Literal[
    "values", "updates", "messages", "messages-tuple", "custom", "debug", "delta", "tasks",
    "checkpoints",
]  # fmt: skip
STREAM_MODES: frozenset[str] = frozenset(StreamMode.__args__)  # type: ignore[attr-defined]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CommandBody(Strict):
    resume: Any = None
    update: dict[str, Any] | list[Any] | None = None
    goto: str | list[str] | dict[str, Any] | list[dict[str, Any]] | None = None


class CheckpointBody(Strict):
    thread_id: str | None = None
    checkpoint_ns: str = ""
    checkpoint_id: str | None = None
    checkpoint_map: dict[str, Any] | None = None


class RunCreate(Strict):
    assistant_id: str = Field(min_length=1)
    input: Any = None
    command: CommandBody | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    stream_mode: StreamMode | list[StreamMode] = "values"
    stream_subgraphs: bool = False
    stream_resumable: bool = False
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    multitask_strategy: Literal["reject", "enqueue", "interrupt", "rollback"] = "enqueue"
    if_not_exists: Literal["create", "reject"] = "reject"
    on_disconnect: Literal["cancel", "continue"] = "continue"
    on_completion: Literal["delete", "keep"] | None = None
    checkpoint: CheckpointBody | None = None
    checkpoint_id: str | None = None
    checkpoint_during: bool | None = None
    durability: Literal["sync", "async", "exit"] | None = None
    after_seconds: float | None = Field(None, ge=0, le=86_400)
    # Accepted for SDK compatibility; Switchyard does not trace to LangSmith.
    langsmith_tracer: dict[str, Any] | None = None
    strict_resume: bool | None = None
    webhook: str | None = None
    feedback_keys: list[str] | None = None

    @field_validator("webhook")
    @classmethod
    def _no_webhook(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError("webhooks are not supported by this server; remove 'webhook'")
        return value

    @field_validator("feedback_keys")
    @classmethod
    def _no_feedback(cls, value: list[str] | None) -> list[str] | None:
        if value:
            raise ValueError("feedback keys need LangSmith; remove 'feedback_keys'")
        return value

    @field_validator("config")
    @classmethod
    def _config_shape(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        allowed = {"tags", "recursion_limit", "configurable", "metadata", "run_name"}
        unknown = set(value) - allowed
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}; allowed: {sorted(allowed)}")
        if not isinstance(value.get("configurable", {}), dict):
            raise ValueError("config.configurable must be an object")
        limit = value.get("recursion_limit")
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise ValueError("config.recursion_limit must be a positive integer")
        return value

    @model_validator(mode="after")
    def _input_or_command(self) -> RunCreate:
        if self.input is not None and self.command is not None:
            raise ValueError("give either 'input' or 'command', not both")
        return self

    @property
    def stream_modes(self) -> list[str]:
        return stream_modes_of(self.stream_mode)


class ThreadCreate(Strict):
    thread_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    if_exists: Literal["raise", "do_nothing"] = "raise"
    graph_id: str | None = None


class ThreadPatch(Strict):
    metadata: dict[str, Any] = Field(default_factory=dict)


class ThreadSearch(Strict):
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    status: ThreadStatus | None = None
    ids: list[str] | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0)
    sort_by: Literal["created_at", "updated_at", "thread_id", "status"] = "created_at"
    sort_order: Literal["asc", "desc"] = "desc"
    select: list[str] | None = None


class ThreadCount(Strict):
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    status: ThreadStatus | None = None


class ThreadStateUpdate(Strict):
    values: dict[str, Any] | list[Any] | None = None
    as_node: str | None = None
    checkpoint: CheckpointBody | None = None
    checkpoint_id: str | None = None


class ThreadStateAt(Strict):
    checkpoint: CheckpointBody
    subgraphs: bool = False
    select: list[str] | None = None


class ThreadHistory(Strict):
    limit: int = Field(10, ge=1, le=1000)
    before: str | CheckpointBody | None = None
    metadata: dict[str, Any] | None = None
    checkpoint: CheckpointBody | None = None
    select: list[str] | None = None


class AssistantSearch(Strict):
    graph_id: str | None = None
    metadata: dict[str, Any] | None = None
    name: str | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0)
    sort_by: str | None = None
    sort_order: Literal["asc", "desc"] | None = None
    select: list[str] | None = None


class AssistantCount(Strict):
    graph_id: str | None = None
    metadata: dict[str, Any] | None = None
    name: str | None = None


def stream_modes_of(stream_mode: str | Sequence[str] | None) -> list[str]:
    """A ``stream_mode`` as given (one, a list, or none) as the list of modes
    asked for, each once, in order; what a run body and a stored run's kwargs
    both normalise through."""
    modes = [stream_mode] if isinstance(stream_mode, str) else list(stream_mode or ())
    return list(dict.fromkeys(modes)) or ["values"]
