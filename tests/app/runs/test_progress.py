"""app.runs.progress: which graph shapes have a progress fraction, and status from the log."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command
from typing_extensions import TypedDict

from app.events import Event
from app.runs.progress import RunTracker, linear_nodes
from tests.fixtures.graphs.nested import build_nested
from tests.fixtures.graphs.steps import build_steps


class S(TypedDict, total=False):
    n: int


def _node(state: S) -> dict[str, Any]:
    return {"n": state.get("n", 0) + 1}


def _branching() -> StateGraph[S, Any, S, S]:
    builder: StateGraph[S, Any, S, S] = StateGraph(S)
    builder.add_node("a", _node)
    builder.add_node("b", _node)
    builder.add_node("c", _node)
    builder.add_edge(START, "a")
    builder.add_conditional_edges("a", lambda s: "b" if s.get("n") else "c", ["b", "c"])
    return builder


def _cycle() -> StateGraph[S, Any, S, S]:
    builder: StateGraph[S, Any, S, S] = StateGraph(S)
    builder.add_node("a", _node)
    builder.add_node("b", _node)
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("b", "a")
    return builder


def _fan_out() -> StateGraph[S, Any, S, S]:
    builder: StateGraph[S, Any, S, S] = StateGraph(S)
    for name in ("a", "b", "c"):
        builder.add_node(name, _node)
    builder.add_edge(START, "a")
    builder.add_edge(START, "b")
    builder.add_edge("a", "c")
    builder.add_edge("b", "c")
    builder.add_edge("c", END)
    return builder


def _hand_off() -> StateGraph[S, Any, S, S]:
    def route(state: S) -> Command[str]:
        return Command(goto="b")

    builder: StateGraph[S, Any, S, S] = StateGraph(S)
    builder.add_node("route", route, destinations=("b", "c"))
    builder.add_node("b", _node)
    builder.add_node("c", _node)
    builder.add_edge(START, "route")
    return builder


def test_linear_nodes_when_chain_then_its_nodes() -> None:
    assert linear_nodes(build_steps().compile()) == frozenset({"one", "two", "three"})
    # A subgraph is one node of its parent.
    assert linear_nodes(build_nested().compile()) == frozenset({"before", "inner"})


@pytest.mark.parametrize("build", [_branching, _cycle, _fan_out, _hand_off])
def test_linear_nodes_when_not_a_chain_then_none(build: Any) -> None:
    assert linear_nodes(build().compile()) is None


def _event(seq: int, name: str, data: Any) -> Event:
    return Event(f"1000-{seq}", name, orjson.dumps(data))


def _fold(tracker: RunTracker, stream: list[tuple[str, Any]]) -> RunTracker:
    for seq, (name, data) in enumerate(stream):
        tracker.observe(_event(seq, name, data))
    return tracker


def test_tracker_when_updates_tasks_and_debug_then_each_root_node_counted_once() -> None:
    tracker = _fold(
        RunTracker("r", frozenset({"one", "two", "three"})),
        [
            ("metadata", {"run_id": "r"}),
            ("updates", {"one": {}}),
            ("tasks", {"name": "one", "result": {}, "error": None}),
            (
                "debug",
                {"type": "task_result", "payload": {"name": "two", "error": None, "result": 1}},
            ),
            ("updates|two:x", {"inner": {}}),  # a subgraph's: not a root node
            ("tasks", {"name": "three", "input": {}, "triggers": []}),  # started only
        ],
    )
    assert tracker.status == "running"
    assert tracker.progress == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("code", "status"),
    [("timeout", "timeout"), ("cancelled", "interrupted"), ("internal", "error")],
)
def test_tracker_when_error_before_end_then_status_from_its_code(code: str, status: str) -> None:
    tracker = _fold(
        RunTracker("r", None),
        [("metadata", {}), ("error", {"error": "X", "message": "m", "code": code}), ("end", None)],
    )
    assert tracker.status == status
    assert tracker.error is not None
    assert tracker.error["code"] == code
    assert tracker.progress is None


def test_tracker_when_end_without_error_then_success() -> None:
    tracker = _fold(RunTracker("r", frozenset({"a"})), [("metadata", {}), ("end", None)])
    assert (tracker.status, tracker.progress, tracker.log_seconds) == ("success", 0.0, 0.0)


def test_tracker_when_run_reports_progress_then_its_fraction_even_off_chain() -> None:
    tracker = _fold(
        RunTracker("r", None),  # a routed graph: no chain to count
        [
            ("metadata", {"run_id": "r"}),
            ("progress", {"steps": 1, "total": None, "fraction": None}),
        ],
    )
    assert tracker.progress is None
    _fold(tracker, [("progress", {"steps": 2, "total": 2, "fraction": 1.0})])
    assert tracker.progress == 1.0
