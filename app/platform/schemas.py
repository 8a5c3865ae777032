"""Request bodies of the platform API: assistants, the store, crons, thread lifecycle.

Same rules as ``app.schemas``: field names and defaults follow the LangGraph
Server API (``openapi.json`` of ``langgraph-api``), unknown fields are a 422.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from app.schemas import RunCreate, StreamMode, Strict

__all__ = [
    "AssistantCreate",
    "AssistantLatest",
    "AssistantPatch",
    "AssistantVersions",
    "ThreadPrune",
    "check_config",
]


def check_config(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A config as a run accepts it (the same keys and rules as ``RunCreate.config``)."""
    if value is None:
        return None
    try:
        RunCreate.model_validate({"assistant_id": "-", "config": value})
    except ValidationError as exc:
        raise ValueError("; ".join(str(e["msg"]) for e in exc.errors())) from None
    return value


def check_uuid(value: str | None) -> str | None:
    if value is not None:
        try:
            uuid.UUID(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a UUID") from None
    return value


# -- assistants ---------------------------------------------------------------


class AssistantCreate(Strict):
    graph_id: str = Field(min_length=1)
    assistant_id: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    if_exists: Literal["raise", "do_nothing"] = "raise"
    name: str = "Untitled"
    description: str | None = None

    _config = field_validator("config")(check_config)
    _id = field_validator("assistant_id")(check_uuid)


class AssistantPatch(Strict):
    graph_id: str | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    name: str | None = None
    description: str | None = None

    _config = field_validator("config")(check_config)


class AssistantVersions(Strict):
    metadata: dict[str, Any] | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0)


class AssistantLatest(Strict):
    version: int = Field(ge=1)


# -- threads ------------------------------------------------------------------


class ThreadPrune(Strict):
    thread_ids: list[str] = Field(max_length=1000)
    strategy: Literal["delete", "keep_latest"] = "delete"


# -- crons --------------------------------------------------------------------


class CronCreate(Strict):
    """``POST /runs/crons`` and ``POST /threads/{id}/runs/crons``."""

    schedule: str = Field(min_length=1)
    assistant_id: str = Field(min_length=1)
    timezone: str | None = None
    end_time: datetime | None = Field(None, strict=False)  # ISO 8601 text on the wire
    input: Any = None
    metadata: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    webhook: str | None = None
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    multitask_strategy: Literal["reject", "enqueue", "interrupt", "rollback"] | None = None
    on_run_completed: Literal["delete", "keep"] | None = None
    enabled: bool = True
    stream_mode: StreamMode | list[StreamMode] | None = None
    stream_subgraphs: bool | None = None
    stream_resumable: bool | None = None
    durability: Literal["sync", "async", "exit"] | None = None
    checkpoint_during: bool | None = None

    _config = field_validator("config")(check_config)


class CronPatch(Strict):
    schedule: str | None = Field(None, min_length=1)
    timezone: str | None = None
    end_time: datetime | None = Field(None, strict=False)  # ISO 8601 text on the wire
    input: Any = None
    metadata: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    webhook: str | None = None
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    on_run_completed: Literal["delete", "keep"] | None = None
    enabled: bool | None = None
    stream_mode: StreamMode | list[StreamMode] | None = None
    stream_subgraphs: bool | None = None
    stream_resumable: bool | None = None
    durability: Literal["sync", "async", "exit"] | None = None

    _config = field_validator("config")(check_config)


CronSortKey = Literal[
    "cron_id", "assistant_id", "thread_id", "next_run_date", "end_time", "created_at", "updated_at"
]


class CronSearch(Strict):
    assistant_id: str | None = None
    thread_id: str | None = None
    enabled: bool | None = None
    metadata: dict[str, Any] | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0)
    sort_by: CronSortKey = "created_at"
    sort_order: Literal["asc", "desc"] = "desc"
    select: list[str] | None = None


class CronCount(Strict):
    assistant_id: str | None = None
    thread_id: str | None = None
    metadata: dict[str, Any] | None = None


# -- the store ----------------------------------------------------------------


class StorePut(Strict):
    namespace: list[str] = Field(min_length=1)
    key: str = Field(min_length=1)
    value: dict[str, Any]
    index: Literal[False] | list[str] | None = None
    ttl: float | None = Field(None, gt=0, description="Minutes until the item expires.")

    _namespace = field_validator("namespace")(lambda v: check_namespace(v))


class StoreDelete(Strict):
    namespace: list[str] = Field(default_factory=list)
    key: str = Field(min_length=1)


class StoreSearch(Strict):
    namespace_prefix: list[str] | None = None
    filter: dict[str, Any] | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0)
    query: str | None = None
    refresh_ttl: bool | None = None


class StoreNamespaces(Strict):
    prefix: list[str] | None = None
    suffix: list[str] | None = None
    max_depth: int | None = Field(None, ge=1)
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0)


def check_namespace(namespace: list[str]) -> list[str]:
    for label in namespace:
        if not label:
            raise ValueError("namespace labels must not be empty")
        if "." in label:
            raise ValueError(f"namespace label {label!r} contains '.'; labels cannot")
    return namespace
