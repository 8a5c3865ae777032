"""A run's status and progress, as a client following its event log sees them.

Status is read from the log itself, so every follower of a run, live or
replaying, arrives at the same answer:

* ``pending`` until the ``metadata`` event (the executor emits it as it starts);
* ``running`` from then on;
* at ``end``: ``timeout`` / ``interrupted`` / ``error`` when an ``error``
  event with code ``timeout`` / ``cancelled`` / anything else preceded it,
  else ``success`` (a graph that stops at ``interrupt()`` succeeded; its
  thread is the one waiting).

Progress is a fraction only where the graph's shape gives it a meaning:

* the compiled graph's root is a **linear chain** — START → n₁ → … → nₖ →
  END, every edge unconditional, every node on the chain — and then
  ``progress = |distinct chain nodes completed in this run| / k``;
* a node counts as completed on its root-level ``updates`` event, a root
  ``tasks`` result without error, or a root ``debug`` ``task_result`` without
  error (subgraph events never count: they are inside one root node);
* a run that streams ``progress`` (``app.runs.steps``) reports its own
  fraction, which also covers graphs whose remaining path became known
  mid-run; the latest reported one wins over the chain rule;
* anything else — branches, ``Command(goto=...)`` hand-offs, cycles, or a run
  whose ``stream_mode`` has none of ``PROGRESS_MODES`` (its log cannot say
  when a node completes) — gives ``None``. Progress is never estimated.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

import orjson
from langgraph.constants import END, START
from langgraph.pregel import Pregel

from app.events import Event, parse_event_id
from app.store.base import RunStatus

__all__ = ["PROGRESS_MODES", "TERMINAL", "RunTracker", "linear_nodes"]

# Drawing a graph walks all its nodes; a compiled graph never changes shape,
# so the answer is kept for as long as the graph object lives.
_SHAPES: weakref.WeakKeyDictionary[Pregel[Any, Any, Any, Any], frozenset[str] | None] = (
    weakref.WeakKeyDictionary()
)

_ERROR_STATUS: dict[str, RunStatus] = {"timeout": "timeout", "cancelled": "interrupted"}
TERMINAL: frozenset[str] = frozenset({"success", "error", "timeout", "interrupted"})
# Stream modes whose events say that a node completed.
PROGRESS_MODES: frozenset[str] = frozenset({"updates", "tasks", "debug"})


def linear_nodes(graph: Pregel[Any, Any, Any, Any]) -> frozenset[str] | None:
    """The nodes of the graph's root if they form one unconditional chain, else None."""
    if graph in _SHAPES:
        return _SHAPES[graph]
    drawn = graph.get_graph()
    following: dict[str, list[str]] = {}
    linear = True
    for edge in drawn.edges:
        linear = linear and not edge.conditional
        following.setdefault(edge.source, []).append(edge.target)
    chain: list[str] = []
    node = START
    while linear:
        targets = following.get(node, [])
        if len(targets) != 1:
            linear = False
            break
        node = targets[0]
        if node == END:
            break
        if node in chain:  # a cycle is not a path with an end
            linear = False
            break
        chain.append(node)
    nodes = set(drawn.nodes) - {START, END}
    result = frozenset(chain) if linear and chain and set(chain) == nodes else None
    _SHAPES[graph] = result
    return result


def _completed_node(event: str, data: bytes) -> list[str]:
    """Root nodes this event reports as completed (empty for any other event)."""
    if event not in ("updates", "tasks", "debug"):
        return []  # a "mode|ns" name is a subgraph's: inside one root node
    payload = orjson.loads(data)
    if not isinstance(payload, dict):
        return []
    if event == "updates":
        return [str(name) for name in payload]
    if event == "debug":
        if payload.get("type") != "task_result":
            return []
        payload = payload.get("payload")
        if not isinstance(payload, dict):
            return []
    if "result" in payload and payload.get("error") is None and "name" in payload:
        return [str(payload["name"])]
    return []


@dataclass
class RunTracker:
    """Folds a run's events into (status, progress, error); see the module docstring."""

    run_id: str
    nodes: frozenset[str] | None
    delta: bool = False  # the run streams ``delta``: a resume re-syncs on keyframes
    status: RunStatus = "pending"
    error: dict[str, Any] | None = None
    done: set[str] = field(default_factory=set)
    started_ms: int | None = None
    ended_ms: int | None = None
    reported: float | None = None  # the fraction of the last ``progress`` event

    @property
    def progress(self) -> float | None:
        if self.reported is not None:
            return self.reported
        if self.nodes is None:
            return None
        return len(self.done) / len(self.nodes)

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    @property
    def log_seconds(self) -> float | None:
        """Seconds from ``metadata`` to ``end`` by the events' own ids (ms resolution)."""
        if self.started_ms is None or self.ended_ms is None:
            return None
        return (self.ended_ms - self.started_ms) / 1000

    def observe(self, event: Event) -> None:
        name = event.event
        if name == "metadata":
            self.status = "running"
            self.started_ms = parse_event_id(event.id)[0]
        elif name == "error":
            body = orjson.loads(event.data)
            self.error = body if isinstance(body, dict) else {"message": str(body)}
        elif name == "end":
            self.ended_ms = parse_event_id(event.id)[0]
            if self.error is None:
                self.status = "success"
            else:
                self.status = _ERROR_STATUS.get(str(self.error.get("code")), "error")
        elif name == "progress":
            fraction = orjson.loads(event.data).get("fraction")
            self.reported = float(fraction) if fraction is not None else None
        elif self.nodes is not None:
            self.done.update(n for n in _completed_node(name, event.data) if n in self.nodes)
