"""Progress on every run: steps done, and a fraction where the path left is known.

A *step* is one root node completing (its root ``updates`` chunk; a
subgraph node is one step however much runs inside it). ``GraphRun`` asks
LangGraph for ``updates`` on every run that has a log, counts them here, and
emits a ``progress`` event after each step when the client streams
``progress``; the run's record carries the latest one while it runs.

The fraction is never estimated. It exists when the rest of the run is
known from the compiled graph's shape: ``remaining_steps`` gives, for each
root node (and START), how many nodes still run after it if the path from it
to END is one unconditional chain, else None (a branch, a
``Command(goto=...)`` hand-off, a cycle). So::

    START → a → b → c → END            total 3 from the start: 1/3, 2/3, 3/3
    START → route ⇒ {chat | steps} → END  (route hands off with a Command)
                                       unknown until chat (or steps) completes,
                                       then 2/2; the count of steps is always there

After a step, ``total = steps + remaining_steps[node]`` when that step was
the only node of its superstep and its remaining path is known; else None.
A run that resumes a thread (``command``) starts with the total unknown.

Payload of the ``progress`` event and of ``Run.progress``::

    {"steps": 2, "total": 3, "fraction": 0.6667, "node": "two", "attempt": 1, "retries": 0}

``attempt``: how many attempts the step's node took (its run's retry policy
retries transient failures, ``app.runs.retries``); ``retries``: node
attempts retried so far in the whole run.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

from langgraph.constants import END, START
from langgraph.pregel import Pregel

__all__ = ["StepCounter", "remaining_steps"]

_SHAPES: weakref.WeakKeyDictionary[Pregel[Any, Any, Any, Any], dict[str, int | None]] = (
    weakref.WeakKeyDictionary()
)


def remaining_steps(graph: Pregel[Any, Any, Any, Any]) -> dict[str, int | None]:
    """Root node (or START) -> nodes still to run after it, None where unknown.

    Computed once per compiled graph (its shape never changes)."""
    known = _SHAPES.get(graph)
    if known is not None:
        return known
    following: dict[str, list[tuple[str, bool]]] = {}
    drawn = graph.get_graph()
    for edge in drawn.edges:
        following.setdefault(edge.source, []).append((edge.target, bool(edge.conditional)))
    result: dict[str, int | None] = {}

    def after(node: str, seen: frozenset[str]) -> int | None:
        if node in result:
            return result[node]
        edges = following.get(node, [])
        if len(edges) != 1 or edges[0][1]:
            return None  # a branch, a hand-off, or nowhere to go
        target = edges[0][0]
        if target == END:
            return 0
        if target in seen:
            return None  # a cycle has no known end
        rest = after(target, seen | {target})
        return None if rest is None else rest + 1

    for node in [START, *(n for n in drawn.nodes if n not in (START, END))]:
        result[node] = after(node, frozenset({node}))
    _SHAPES[graph] = result
    return result


class StepCounter:
    """One run's steps; ``current`` is the payload after the last step."""

    __slots__ = ("_node_retries", "_remaining", "current", "retries", "steps")

    def __init__(self, remaining: Mapping[str, int | None], *, resumed: bool = False) -> None:
        self._remaining = remaining
        self.steps = 0
        self.retries = 0
        self._node_retries: dict[str, int] = {}
        total = None if resumed else remaining.get(START)
        self.current: dict[str, Any] = _payload(0, total, None, 1, 0)

    @classmethod
    def for_graph(cls, graph: Pregel[Any, Any, Any, Any], *, resumed: bool) -> StepCounter:
        return cls(remaining_steps(graph), resumed=resumed)

    def observe(self, update: Any) -> bool:
        """Count a root ``updates`` chunk; True when it completed a step."""
        if type(update) is not dict:
            return False
        nodes = [name for name in update if not name.startswith("__")]  # __interrupt__
        if not nodes:
            return False
        self.steps += len(nodes)
        rest = self._remaining.get(nodes[0]) if len(nodes) == 1 else None
        total = None if rest is None else self.steps + rest
        attempt = 1 + self._node_retries.pop(nodes[-1], 0)
        self.current = _payload(self.steps, total, nodes[-1], attempt, self.retries)
        return True

    def retried(self, node: str) -> None:
        """``node`` failed transiently and runs again."""
        self.retries += 1
        self._node_retries[node] = self._node_retries.get(node, 0) + 1
        self.current = {**self.current, "retries": self.retries}


def _payload(
    steps: int, total: int | None, node: str | None, attempt: int, retries: int
) -> dict[str, Any]:
    fraction = round(steps / total, 4) if total else None
    return {
        "steps": steps,
        "total": total,
        "fraction": fraction,
        "node": node,
        "attempt": attempt,
        "retries": retries,
    }
