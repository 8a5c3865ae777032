"""The flow every "must show" test runs, and the same logic as a hand-written StateGraph.

The flow has a condition, a bounded loop, two parallel branches joined, a
code subgraph (the built-in ``chat`` graph) and an interrupt::

    START -> start -> bump --(count < limit, max 10)--> bump
                       |
                       +--> fan -> left  --+
                             \\-> right --+--> join -> chat --(verdict == 'long')--> ask
                                                          \\--> END
                 ask --(approved == 'yes')--> done -> END
                    \\--> END

With the default ``limit`` (3) the trail is long and the flow stops at
``ask``; with ``limit`` 0 it is short and the flow ends after ``chat``.

``reference_builder`` writes the same thing directly against LangGraph; the
tests compare the final states of both.
"""

from __future__ import annotations

import operator
import threading
from typing import Annotated, Any, NotRequired

from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.pregel import Pregel
from langgraph.types import interrupt

__all__ = ["FLOW", "GATE", "comparable", "gate", "reference_builder", "shout"]

FLOW: dict[str, Any] = {
    "id": "review",
    "description": "Counts up, fans out, asks the chat graph, then asks a human.",
    "params": {"limit": {"type": "integer", "default": 3}},
    "state": {
        "messages": {"type": "messages"},
        "count": {"type": "integer", "default": 0},
        "trail": {"type": "array", "reducer": "append"},
        "verdict": {"type": "string"},
        "approved": {"type": "any"},
    },
    "nodes": [
        {"id": "start", "type": "transform", "config": {"set": {"trail": ["start"]}}},
        {
            "id": "bump",
            "type": "transform",
            "config": {"compute": {"count": "count + 1", "trail": "['bump ' + str(count + 1)]"}},
        },
        {"id": "fan", "type": "transform", "config": {"set": {"trail": ["fan"]}}},
        {"id": "left", "type": "transform", "config": {"set": {"trail": ["left {{state.count}}"]}}},
        {
            "id": "right",
            "type": "function",
            "config": {"function": "tests.graphs.flows.reference:shout", "args": {"word": "right"}},
        },
        {
            "id": "join",
            "type": "transform",
            "config": {"compute": {"verdict": "'long' if len(trail) > 5 else 'short'"}},
        },
        {"id": "chat", "type": "subgraph", "config": {"graph": "chat"}},
        {
            "id": "ask",
            "type": "interrupt",
            "config": {"value": {"question": "approve {{state.verdict}}?"}, "write": "approved"},
        },
        {"id": "done", "type": "transform", "config": {"set": {"trail": ["done"]}}},
    ],
    "edges": [
        {"from": "START", "to": "start"},
        {"from": "start", "to": "bump"},
        {"from": "bump", "to": "bump", "when": "count < limit", "max_iterations": 10},
        {"from": "bump", "to": "fan"},
        {"from": "fan", "to": "left"},
        {"from": "fan", "to": "right"},
        {"from": ["left", "right"], "to": "join"},
        {"from": "join", "to": "chat"},
        {"from": "chat", "to": "ask", "when": "verdict == 'long'"},
        {"from": "chat", "to": "END"},
        {"from": "ask", "to": "done", "when": "approved == 'yes'"},
        {"from": "ask", "to": "END"},
    ],
}


def shout(state: dict[str, Any], word: str) -> dict[str, Any]:
    """The ``function`` node of the flow (a plain sync function)."""
    return {"trail": [f"{word.upper()} {state['count']}"]}


class Gate:
    """Lets a test hold a ``function`` node (servers in tests share the test's process)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def reset(self) -> None:
        self.entered.clear()
        self.release.clear()


GATE = Gate()


def gate(state: dict[str, Any], mark: str) -> dict[str, Any]:
    """A sync node that waits (in its worker thread) until the test releases it."""
    GATE.entered.set()
    if not GATE.release.wait(60):
        raise TimeoutError("the test never released the gate")
    return {"mark": mark}


class ReferenceState(MessagesState):
    count: NotRequired[int]
    trail: Annotated[list[str], operator.add]
    verdict: NotRequired[str]
    approved: NotRequired[Any]


def reference_builder(
    chat: Pregel[Any, Any, Any, Any], limit: int = 3
) -> StateGraph[ReferenceState, Any, ReferenceState, ReferenceState]:
    """The flow above, written by hand."""

    def start(state: ReferenceState) -> dict[str, Any]:
        return {"trail": ["start"]}

    def bump(state: ReferenceState) -> dict[str, Any]:
        count = state.get("count", 0) + 1
        return {"count": count, "trail": [f"bump {count}"]}

    def again(state: ReferenceState) -> str:
        return "bump" if state["count"] < limit else "fan"

    def fan(state: ReferenceState) -> dict[str, Any]:
        return {"trail": ["fan"]}

    def left(state: ReferenceState) -> dict[str, Any]:
        return {"trail": [f"left {state['count']}"]}

    def right(state: ReferenceState) -> dict[str, Any]:
        return shout(dict(state), "right")

    def join(state: ReferenceState) -> dict[str, Any]:
        return {"verdict": "long" if len(state["trail"]) > 5 else "short"}

    def ask(state: ReferenceState) -> dict[str, Any]:
        return {"approved": interrupt({"question": f"approve {state['verdict']}?"})}

    def after_ask(state: ReferenceState) -> str:
        return "done" if state.get("approved") == "yes" else END

    def done(state: ReferenceState) -> dict[str, Any]:
        return {"trail": ["done"]}

    builder = StateGraph(ReferenceState)
    for name, node in [("start", start), ("bump", bump), ("fan", fan), ("left", left)]:
        builder.add_node(name, node)
    for name, node in [("right", right), ("join", join), ("ask", ask), ("done", done)]:
        builder.add_node(name, node)
    builder.add_node("chat", chat)
    builder.add_edge(START, "start")
    builder.add_edge("start", "bump")
    builder.add_conditional_edges("bump", again, ["bump", "fan"])
    builder.add_edge("fan", "left")
    builder.add_edge("fan", "right")
    builder.add_edge(["left", "right"], "join")
    builder.add_edge("join", "chat")
    builder.add_conditional_edges(
        "chat", lambda state: "ask" if state["verdict"] == "long" else END, ["ask", END]
    )
    builder.add_conditional_edges("ask", after_ask, ["done", END])
    builder.add_edge("done", END)
    return builder


def comparable(values: dict[str, Any]) -> dict[str, Any]:
    """A final state with messages reduced to (type, text): ids differ between runs."""
    out = dict(values)
    out["messages"] = [
        (m["type"], m["content"]) if isinstance(m, dict) else (m.type, m.text)
        for m in values.get("messages", [])
    ]
    return out
