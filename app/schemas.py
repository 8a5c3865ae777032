"""Request bodies, validated with pydantic; unknown fields are a 422.

Field names and defaults follow the LangGraph Server API (``openapi.json`` of
``langgraph-api``) so ``langgraph-sdk`` and ``RemoteGraph`` work unchanged.
Fields that API defines but Switchyard does not implement are rejected with a
message naming them, rather than accepted and ignored.

Limits that keep bad input a 4xx (documented in docs/api.md):

* a thread id is a UUID or a *safe string* (``SAFE_ID``): letters, digits,
  ``_``, ``-`` and ``.``, starting with a letter or digit, at most 128
  characters; anything path-like (``../../x``) is refused;
* a search filter (``metadata``, ``values``) has at most ``MAX_FILTER_KEYS``
  keys, none containing NUL, and its integers fit in 64 bits, as SQL
  parameters must;
* ``offset`` is at most ``MAX_OFFSET`` (a 64-bit integer, for the same reason);
* ``config.configurable.route_strategy`` names a router strategy.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from app.store.base import ThreadStatus
from routers.base import STRATEGIES

StreamMode = Literal[
    "values", "updates", "messages", "messages-tuple", "custom", "debug", "delta", "tasks",
    "checkpoints", "events", "tools", "progress",
]  # fmt: skip
STREAM_MODES: frozenset[str] = frozenset(StreamMode.__args__)  # type: ignore[attr-defined]

SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
MAX_FILTER_KEYS = 100
MAX_OFFSET = 2**63 - 1
_INT64 = range(-(2**63), 2**63)

ThreadField = Literal[
    "thread_id", "created_at", "updated_at", "metadata", "status", "values", "interrupts"
]  # fmt: skip
AssistantField = Literal[
    "assistant_id", "graph_id", "name", "description", "config", "context", "metadata",
    "version", "created_at", "updated_at",
]  # fmt: skip
StateField = Literal[
    "values", "next", "checkpoint", "metadata", "created_at", "parent_checkpoint", "tasks",
    "interrupts",
]  # fmt: skip


def check_thread_id(value: str) -> str:
    """``value`` if it is a usable thread id, else a ValueError saying what is."""
    if not SAFE_ID.fullmatch(value):
        raise ValueError(
            f"thread id {value[:140]!r} is not usable: send a UUID or 1-128 letters, digits, "
            "'_', '-' or '.', starting with a letter or digit"
        )
    return value


def check_state_select(fields: list[str] | None) -> list[str] | None:
    """State fields, or ``values.<key>`` for one key of the values."""
    allowed = StateField.__args__  # type: ignore[attr-defined]
    for name in fields or ():
        if name not in allowed and not (name.startswith("values.") and len(name) > 7):
            raise ValueError(f"cannot select {name!r}; use {', '.join(allowed)} or values.<key>")
    return fields


def _check_json_ints(value: Any, where: str) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int) and value not in _INT64:
        raise ValueError(f"{where}: integers in a filter must fit in 64 bits (-2**63..2**63-1)")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_json_ints(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json_ints(item, f"{where}[{index}]")


def check_filter(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A metadata/values filter the stores can turn into SQL (see module docstring)."""
    if value is None:
        return None
    if len(value) > MAX_FILTER_KEYS:
        raise ValueError(
            f"filter has {len(value)} keys; the limit is {MAX_FILTER_KEYS}, narrow the filter"
        )
    for key, item in value.items():
        if "\x00" in key:
            raise ValueError(f"filter key {key!r} contains NUL; remove it")
        _check_json_ints(item, key)
    return value


Filter = Annotated[dict[str, Any] | None, AfterValidator(check_filter)]
StateSelect = Annotated[list[str] | None, AfterValidator(check_state_select)]


class Strict(BaseModel):
    # Strict: JSON types are taken as the schema says ("5" is not an integer,
    # 1 is not a boolean), so the OpenAPI document describes exactly what passes.
    model_config = ConfigDict(extra="forbid", strict=True)


def _route_strategy(configurable: dict[str, Any]) -> dict[str, Any]:
    strategy = configurable.get("route_strategy")
    if strategy is not None and strategy not in STRATEGIES:
        raise ValueError(f"unknown route_strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    return configurable


class RunConfig(Strict):
    """The shape ``RunCreate.config`` must have (the run keeps the dict it was sent)."""

    tags: list[str] = Field(default_factory=list)
    recursion_limit: int = Field(25, ge=1)
    configurable: Annotated[dict[str, Any], AfterValidator(_route_strategy)] = Field(
        default_factory=dict,
        json_schema_extra={"properties": {"route_strategy": {"enum": [*STRATEGIES, None]}}},
    )
    metadata: dict[str, Any] | None = None
    run_name: str | None = None


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
    assistant_id: str = Field(min_length=1, examples=["chat"])
    input: Any = None
    command: CommandBody | None = None
    config: Annotated[
        dict[str, Any] | None,
        WithJsonSchema({"anyOf": [RunConfig.model_json_schema(), {"type": "null"}]}),
    ] = None
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
    # Called when the run ends; the target is checked at creation (app.platform.webhooks).
    webhook: str | None = Field(None, min_length=1, max_length=65_536)
    feedback_keys: Annotated[
        list[str] | None,
        WithJsonSchema({"anyOf": [{"type": "array", "maxItems": 0}, {"type": "null"}]}),
    ] = None

    @field_validator("feedback_keys")
    @classmethod
    def _no_feedback(cls, value: list[str] | None) -> list[str] | None:
        if value:
            raise ValueError("feedback keys need LangSmith; remove 'feedback_keys'")
        return value

    @field_validator("config")
    @classmethod
    def _config_shape(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            try:
                RunConfig.model_validate(value)
            except ValidationError as exc:
                raise ValueError(
                    "; ".join(
                        f"{'.'.join(map(str, e['loc']))}: "
                        + ("unknown key; remove it" if e["type"] == "extra_forbidden" else e["msg"])
                        for e in exc.errors(include_url=False)
                    )
                ) from None
        return value

    @model_validator(mode="after")
    def _input_or_command(self) -> RunCreate:
        if self.input is not None and self.command is not None:
            raise ValueError("give either 'input' or 'command', not both")
        return self

    @property
    def stream_modes(self) -> list[str]:
        return stream_modes_of(self.stream_mode)


class ThreadTTL(Strict):
    strategy: Literal["delete", "keep_latest"] = "delete"
    ttl: float = Field(gt=0, description="Minutes from now until the thread is swept.")


class SuperstepUpdate(Strict):
    values: dict[str, Any] | list[Any] | None = None
    command: CommandBody | None = None
    as_node: str


class Superstep(Strict):
    updates: list[SuperstepUpdate] = Field(min_length=1)


class ThreadCreate(Strict):
    thread_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    if_exists: Literal["raise", "do_nothing"] = "raise"
    graph_id: str | None = None
    ttl: ThreadTTL | None = None  # see app.lifecycle
    supersteps: list[Superstep] | None = None

    @field_validator("thread_id")
    @classmethod
    def _safe_id(cls, value: str | None) -> str | None:
        return None if value is None else check_thread_id(value)


class ThreadPatch(Strict):
    metadata: dict[str, Any] = Field(default_factory=dict)
    ttl: ThreadTTL | None = None


class ThreadFilter(Strict):
    metadata: Filter = None
    status: ThreadStatus | None = None


class ThreadSearch(ThreadFilter):
    values: Filter = None
    ids: list[str] | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    sort_by: Literal["created_at", "updated_at", "thread_id", "status"] = "created_at"
    sort_order: Literal["asc", "desc"] = "desc"
    select: list[ThreadField] | None = Field(None, min_length=1)


class ThreadCount(ThreadFilter):
    # LangGraph's count also takes ``values``; the stores count by metadata
    # and status only, so it is refused rather than ignored.
    values: None = Field(None, description="not supported: count by metadata and status")

    @field_validator("values", mode="before")
    @classmethod
    def _no_values(cls, value: Any) -> None:
        if value is not None:
            raise ValueError(
                "counting by values is not supported; count by metadata/status, or use "
                "/threads/search with values"
            )
        return None


class ThreadStateUpdate(Strict):
    values: dict[str, Any] | list[Any] | None = None
    as_node: str | None = None
    checkpoint: CheckpointBody | None = None
    checkpoint_id: str | None = None


class ThreadStateAt(Strict):
    checkpoint: CheckpointBody
    subgraphs: bool = False
    select: StateSelect = None


class ThreadHistory(Strict):
    limit: int = Field(10, ge=1, le=1000)
    before: str | CheckpointBody | None = None
    metadata: Filter = None
    checkpoint: CheckpointBody | None = None
    select: StateSelect = None


class AssistantSearch(Strict):
    graph_id: str | None = None
    metadata: dict[str, Any] | None = None
    name: str | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    # Without sort_by, assistants come in the order the graphs are configured.
    sort_by: Literal["assistant_id", "graph_id", "name", "created_at", "updated_at"] | None = None
    sort_order: Literal["asc", "desc"] = "asc"
    select: list[AssistantField] | None = Field(None, min_length=1)


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
