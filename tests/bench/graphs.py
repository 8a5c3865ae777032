"""Graphs only the benchmarks use (registered by ``tests/bench/langgraph.json``).

* ``grow30``: 30 nodes in a chain; each appends one ~200-byte string to
  ``items``, so the state grows by ~200 bytes per node. The wire-bytes rows
  stream one run of it as ``values``, ``updates`` and ``delta``.
* ``conversation``: ``turns`` (default 50) turns of a chat in one run; each
  turn adds a human message, then an AI answer together with a route
  decision, as a routed chat graph does. The wire-bytes rows compare
  ``values`` with ``delta`` over one stream of the whole conversation.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

__all__ = ["GROW_NODES", "build_conversation", "build_grow30"]

GROW_NODES = 30
_FILLER = "lorem ipsum dolor sit amet " * 8  # 216 characters


class GrowState(TypedDict, total=False):
    items: Annotated[list[str], operator.add]


def _grow(index: int) -> Any:
    def node(state: GrowState) -> dict[str, Any]:
        return {"items": [f"n{index:02d} {_FILLER[: 200 - 4 - 8]}"]}

    node.__name__ = f"n{index:02d}"
    return node


def build_grow30() -> StateGraph[GrowState, Any, GrowState, GrowState]:
    builder: StateGraph[GrowState, Any, GrowState, GrowState] = StateGraph(GrowState)
    previous = START
    for index in range(GROW_NODES):
        name = f"n{index:02d}"
        builder.add_node(name, _grow(index))
        builder.add_edge(previous, name)
        previous = name
    builder.add_edge(previous, END)
    return builder


class ConversationState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    route: dict[str, Any]
    turn: int
    turns: int


_ASK = "How does the router decide which subgraph answers this request, and why that one? "
_REPLY = (
    "Ordered rules are tried first and the first match wins outright. Without a match the "
    "intent classifier proposes a target with a confidence; below the threshold the default "
    "graph answers. The decision records its source, reason and the runner-up candidates. "
)


def _human(state: ConversationState) -> dict[str, Any]:
    turn = state.get("turn", 0)
    return {"messages": [HumanMessage(content=f"{_ASK}#{turn}", id=f"h{turn}")]}


def _ai(state: ConversationState) -> dict[str, Any]:
    turn = state.get("turn", 0)
    route = {"target": "chat", "source": "rule:faq", "confidence": 1.0, "turn": turn}
    answer = AIMessage(content=f"{_REPLY}#{turn}", id=f"a{turn}")
    return {"messages": [answer], "route": route, "turn": turn + 1}


def _next(state: ConversationState) -> str:
    return "human" if state.get("turn", 0) < state.get("turns", 50) else END


def build_conversation() -> StateGraph[
    ConversationState, Any, ConversationState, ConversationState
]:
    builder: StateGraph[ConversationState, Any, ConversationState, ConversationState] = StateGraph(
        ConversationState
    )
    builder.add_node("human", _human)
    builder.add_node("ai", _ai)
    builder.add_edge(START, "human")
    builder.add_edge("human", "ai")
    builder.add_conditional_edges("ai", _next, ["human", END])
    return builder
