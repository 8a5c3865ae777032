"""Run retries: LangGraph's ``RetryPolicy`` for transient node failures, where the
graph sets none, per assistant or per run.

Where the policy comes from (the first that applies):

1. the run: ``config.configurable.retry`` = ``{"max_attempts": 3, ...}``
   (the fields of ``NodeRetry``; ``{"max_attempts": 1}`` turns retries off);
2. the assistant: ``SWITCHYARD_RUNS_RETRY_BY_ASSISTANT='{"chat": {...}}'``
   (keyed by graph id or assistant id);
3. the server: ``SWITCHYARD_RUNS_RETRY='{"max_attempts": 2}'`` (default: one
   attempt, no retries).

It becomes the compiled graph's own ``retry_policy`` for that run (a copy,
~20 µs): LangGraph uses it for every node that has no policy of its own, so
a graph's own per-node policies always win. Transient means a connection
error, a timeout, an LLM rate limit or 5xx (``TRANSIENT``); a bug
(``ValueError``...) fails the run at once.

Each retry is counted: ``switchyard_node_retries_total{assistant}``, and in
the run's progress (``attempt`` of the node that completed, ``retries`` in
the run; ``app.runs.steps``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import httpx
import openai
from langgraph.pregel import Pregel
from langgraph.types import RetryPolicy
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.errors import InvalidInput

if TYPE_CHECKING:  # app.settings imports NodeRetry from here; schemas import settings
    from app.schemas import RunCreate

__all__ = ["TRANSIENT", "NodeRetry", "RetryPolicies", "TransientFailures"]

TRANSIENT: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    httpx.TransportError,
    openai.APIConnectionError,
    openai.APITimeoutError,
    openai.RateLimitError,
    openai.InternalServerError,
)

# LangGraph notes the task on the exception before asking the policy.
_TASK_NOTE = re.compile(r"During task with name '(?P<name>.*)' and id '(?P<id>.*)'")


class NodeRetry(BaseModel):
    """A retry policy, in LangGraph's ``RetryPolicy`` terms."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(1, ge=1, le=20, description="Attempts per node; 1: no retry.")
    initial_interval_s: float = Field(0.5, ge=0, le=60)
    backoff_factor: float = Field(2.0, ge=1, le=10)
    max_interval_s: float = Field(10.0, ge=0, le=600)
    jitter: bool = True


class TransientFailures:
    """``retry_on`` of one run's policy: transient or not, and counts each retry.

    LangGraph asks on every failure, the last one too, so a failure counts as
    a retry only while its task has attempts left."""

    def __init__(self, max_attempts: int, on_retry: Callable[[str], None]) -> None:
        self._max_attempts = max_attempts
        self._on_retry = on_retry
        self._failures: dict[str, int] = {}

    def __call__(self, exc: Exception) -> bool:
        if not isinstance(exc, TRANSIENT):
            return False
        task, node = _task_of(exc)
        failures = self._failures[task] = self._failures.get(task, 0) + 1
        if failures < self._max_attempts:
            self._on_retry(node)
        return True


def _task_of(exc: BaseException) -> tuple[str, str]:
    for note in getattr(exc, "__notes__", ()):
        found = _TASK_NOTE.search(str(note))
        if found:
            return found["id"], found["name"]
    return "?", "?"


class RetryPolicies:
    """Picks and applies a run's policy (see the module docstring)."""

    def __init__(self, default: NodeRetry, by_assistant: Mapping[str, NodeRetry]) -> None:
        self._default = default
        self._by_assistant = dict(by_assistant)

    def check(self, body: RunCreate) -> NodeRetry | None:
        """The run's own policy, validated (``InvalidInput`` saying what to fix)."""
        given = ((body.config or {}).get("configurable") or {}).get("retry")
        if given is None:
            return None
        try:
            return NodeRetry.model_validate(given)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'retry'}: {e['msg']}" for e in exc.errors()
            )
            raise InvalidInput(f"config.configurable.retry: {problems}") from None

    def policy(self, body: RunCreate, graph_id: str, assistant_id: str) -> NodeRetry:
        return (
            self.check(body)
            or self._by_assistant.get(assistant_id)
            or self._by_assistant.get(graph_id)
            or self._default
        )

    def apply(
        self,
        graph: Pregel[Any, Any, Any, Any],
        retry: NodeRetry,
        on_retry: Callable[[str], None],
    ) -> Pregel[Any, Any, Any, Any]:
        """``graph`` with ``retry`` as its default node policy (unchanged if none)."""
        if retry.max_attempts <= 1 or graph.retry_policy:
            return graph
        policy = RetryPolicy(
            initial_interval=retry.initial_interval_s,
            backoff_factor=retry.backoff_factor,
            max_interval=retry.max_interval_s,
            max_attempts=retry.max_attempts,
            jitter=retry.jitter,
            retry_on=TransientFailures(retry.max_attempts, on_retry),
        )
        return graph.copy(update={"retry_policy": (policy,)})
