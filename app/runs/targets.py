"""Node names a run body refers to must be nodes of its graph.

LangGraph ignores an unknown name in ``interrupt_before``/``interrupt_after``
(the run never stops where the client expected it to) and fails a
``command.goto`` to one only once the run is under way. Both are the
request's mistake, so they are refused before the run is created, with the
graph's node names in the message.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langgraph.constants import END, START
from langgraph.pregel import Pregel

from app.errors import InvalidInput
from app.schemas import RunCreate

__all__ = ["check_targets"]


def _goto_names(goto: Any) -> Iterator[Any]:
    for item in goto if isinstance(goto, list) else [goto]:
        # A ``Send`` travels as {"node": ..., "arg": ...}.
        yield item.get("node") if isinstance(item, dict) else item


def check_targets(graph_id: str, graph: Pregel[Any, Any, Any, Any], body: RunCreate) -> None:
    """Raise ``InvalidInput`` naming the first unknown node ``body`` refers to."""
    nodes = [name for name in graph.nodes if name != START]
    for field in ("interrupt_before", "interrupt_after"):
        names = getattr(body, field)
        if names is None or names == "*":
            continue
        unknown = [name for name in names if name not in graph.nodes]
        if unknown:
            raise InvalidInput(
                f"{field}: {unknown} are not nodes of graph {graph_id!r}; use '*' or names "
                f"from {nodes}"
            )
    if body.command is None or body.command.goto is None:
        return
    for name in _goto_names(body.command.goto):
        if not isinstance(name, str) or (name not in graph.nodes and name != END):
            raise InvalidInput(
                f"command.goto: {name!r} is not a node of graph {graph_id!r}; use one of "
                f"{[*nodes, END]}"
            )
