"""Flows compiled to LangGraph behave like the same logic written as a StateGraph."""

from __future__ import annotations

import copy
import uuid
from typing import Any, cast

import pytest
from langchain_core.messages import AIMessageChunk
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from graphs.flows.compiler import LOOPS_CHANNEL, FlowRuntimeError
from graphs.flows.document import FlowDocument
from graphs.registry import GraphRegistry
from tests.graphs.flows.reference import FLOW, comparable, reference_builder

ASK = {"messages": [{"role": "user", "content": "hello"}]}


def _thread() -> RunnableConfig:
    return {"configurable": {"thread_id": str(uuid.uuid4())}}


def _flow(**changes: Any) -> FlowDocument:
    data = copy.deepcopy(FLOW)
    data.update(changes)
    return FlowDocument.model_validate(data)


async def _run_to_end(graph: Any, answer: str) -> dict[str, Any]:
    config = _thread()
    await graph.ainvoke(ASK, config)
    state = await graph.aget_state(config)
    assert [i.value for i in state.interrupts] == [{"question": "approve long?"}]
    result: dict[str, Any] = await graph.ainvoke(Command(resume=answer), config)
    return result


@pytest.mark.parametrize("answer", ["yes", "no"])
async def test_flow_when_run_to_the_end_then_state_equals_hand_written_graph(
    registry: GraphRegistry, answer: str
) -> None:
    registry.put_flow(_flow(), 1)
    flow_state = await _run_to_end(await registry.get("review"), answer)
    chat = await registry.get_subgraph("chat")
    reference = reference_builder(chat).compile(checkpointer=InMemorySaver())
    reference_state = await _run_to_end(reference, answer)
    assert comparable(flow_state) == comparable(reference_state)
    assert flow_state["count"] == 3
    assert flow_state["trail"][-1] == ("done" if answer == "yes" else "RIGHT 3")
    assert LOOPS_CHANNEL not in flow_state


async def test_flow_when_params_differ_then_loop_follows_them(registry: GraphRegistry) -> None:
    registry.put_flow(_flow(), 1)
    graph = await registry.get("review", params={"limit": 5})
    config = _thread()
    await graph.ainvoke(ASK, config)
    state = await graph.aget_state(config)
    assert state.values["count"] == 5
    assert LOOPS_CHANNEL not in state.values


async def test_loop_when_condition_stays_true_then_max_iterations_bounds_it(
    registry: GraphRegistry,
) -> None:
    # limit 50 would loop 50 times; the edge allows 10 in a row, then falls through.
    registry.put_flow(_flow(), 1)
    graph = await registry.get("review", params={"limit": 50})
    config = _thread()
    await graph.ainvoke(ASK, config)
    values = (await graph.aget_state(config)).values
    assert values["count"] == 11  # entered once from start, then 10 loops
    assert values["trail"].count("fan") == 1


async def test_loop_when_entered_again_then_budget_starts_over(registry: GraphRegistry) -> None:
    flow = {
        "id": "twice",
        "state": {
            "n": {"type": "integer", "default": 0},
            "rounds": {"type": "integer", "default": 0},
        },
        "nodes": [
            {
                "id": "round",
                "type": "transform",
                "config": {"compute": {"rounds": "rounds + 1", "n": "0"}},
            },
            {"id": "step", "type": "transform", "config": {"compute": {"n": "n + 1"}}},
        ],
        "edges": [
            {"from": "START", "to": "round"},
            {"from": "round", "to": "step"},
            {"from": "step", "to": "step", "max_iterations": 2},
            {"from": "step", "to": "round", "when": "rounds < 2", "max_iterations": 5},
        ],
    }
    registry.put_flow(FlowDocument.model_validate(flow), 1)
    graph = await registry.get("twice")
    result = await graph.ainvoke({}, _thread())
    # Each round: step runs once, then loops twice (the budget), so n == 3 both times.
    assert result == {"n": 3, "rounds": 2}


async def test_join_when_branches_differ_in_length_then_waits_for_both(
    registry: GraphRegistry,
) -> None:
    flow = {
        "id": "joined",
        "state": {"seen": {"type": "array", "reducer": "append"}},
        "nodes": [
            {"id": "a", "type": "transform", "config": {"set": {"seen": ["a"]}}},
            {"id": "b1", "type": "transform", "config": {"set": {"seen": ["b1"]}}},
            {"id": "b2", "type": "transform", "config": {"set": {"seen": ["b2"]}}},
            {
                "id": "j",
                "type": "transform",
                "config": {"compute": {"seen": "['j after ' + str(len(seen))]"}},
            },
        ],
        "edges": [
            {"from": "START", "to": "a"},
            {"from": "START", "to": "b1"},
            {"from": "b1", "to": "b2"},
            {"from": ["a", "b2"], "to": "j"},
        ],
    }
    registry.put_flow(FlowDocument.model_validate(flow), 1)
    result = await (await registry.get("joined")).ainvoke({}, _thread())
    assert result["seen"][-1] == "j after 3"
    assert result["seen"].count("j after 3") == 1


async def test_start_when_edges_decide_then_first_true_condition_wins(
    registry: GraphRegistry,
) -> None:
    flow = {
        "id": "branchy",
        "state": {"kind": {"type": "string"}, "out": {"type": "string"}},
        "nodes": [
            {"id": "big", "type": "transform", "config": {"set": {"out": "big {{state.kind}}"}}},
            {"id": "small", "type": "transform", "config": {"set": {"out": "small"}}},
        ],
        "edges": [
            {"from": "START", "to": "big", "when": "kind =~ 'l.*'"},
            {"from": "START", "to": "small"},
        ],
    }
    registry.put_flow(FlowDocument.model_validate(flow), 1)
    graph = await registry.get("branchy")
    assert (await graph.ainvoke({"kind": "large"}, _thread()))["out"] == "big large"
    assert (await graph.ainvoke({"kind": "tiny"}, _thread()))["out"] == "small"


async def test_condition_when_it_cannot_be_evaluated_then_run_fails_naming_the_edge(
    registry: GraphRegistry,
) -> None:
    flow = {
        "id": "fragile",
        "state": {"x": {"type": "any"}},
        "nodes": [{"id": "a", "type": "transform", "config": {}}],
        "edges": [
            {"from": "START", "to": "a"},
            {"from": "a", "to": "END", "when": "x < 3"},
        ],
    }
    registry.put_flow(FlowDocument.model_validate(flow), 1)
    graph = await registry.get("fragile")
    with pytest.raises(FlowRuntimeError, match=r"'x < 3' on edge a -> END"):
        await graph.ainvoke({"x": "text"}, _thread())


async def test_subgraph_when_streamed_then_events_are_namespaced_and_tokens_stream(
    registry: GraphRegistry,
) -> None:
    registry.put_flow(_flow(), 1)
    graph = await registry.get("review")
    namespaces: set[tuple[str, ...]] = set()
    tokens: list[str] = []
    async for part in graph.astream(
        ASK, _thread(), stream_mode=["updates", "messages"], subgraphs=True
    ):
        namespace, mode, chunk = cast(tuple[tuple[str, ...], str, Any], part)
        namespaces.add(namespace)
        if mode == "messages" and isinstance(chunk[0], AIMessageChunk) and chunk[0].text:
            tokens.append(chunk[0].text)
    assert () in namespaces
    assert any(ns and ns[0].startswith("chat:") for ns in namespaces)
    assert "".join(tokens) == "[offline] You said: hello"
    assert len(tokens) > 1


async def test_llm_node_when_prompt_has_state_then_model_gets_it_and_reply_is_written(
    registry: GraphRegistry,
) -> None:
    flow = {
        "id": "asker",
        "state": {
            "topic": {"type": "string"},
            "messages": {"type": "messages"},
            "summary": {"type": "string"},
        },
        "nodes": [
            {"id": "talk", "type": "llm", "config": {"prompt": "Tell me about {{state.topic}}"}},
            {
                "id": "note",
                "type": "llm",
                "config": {"prompt": "Note {{state.topic}}", "write": "summary"},
            },
        ],
        "edges": [{"from": "START", "to": "talk"}, {"from": "talk", "to": "note"}],
    }
    registry.put_flow(FlowDocument.model_validate(flow), 1)
    graph = await registry.get("asker")
    result = await graph.ainvoke({"topic": "trains"}, _thread())
    assert [m.text for m in result["messages"]] == ["[offline] You said: Tell me about trains"]
    assert result["summary"] == "[offline] You said: Note trains"
    tokens: dict[str, list[str]] = {}
    async for part in graph.astream({"topic": "boats"}, _thread(), stream_mode="messages"):
        chunk, metadata = cast(tuple[Any, dict[str, Any]], part)
        if isinstance(chunk, AIMessageChunk) and chunk.text:
            tokens.setdefault(metadata["langgraph_node"], []).append(chunk.text)
    assert "".join(tokens["talk"]) == "[offline] You said: Tell me about boats"
    assert len(tokens["talk"]) > 1  # streamed token by token, not in one piece
    assert "".join(tokens["note"]) == "[offline] You said: Note boats"


async def test_schemas_when_derived_then_declared_channels_only(registry: GraphRegistry) -> None:
    registry.put_flow(_flow(), 1)
    graph = await registry.get("review")
    channels = {"messages", "count", "trail", "verdict", "approved"}
    assert set(graph.get_input_jsonschema()["properties"]) == channels
    assert set(graph.get_output_jsonschema()["properties"]) == channels
    count = graph.get_input_jsonschema()["properties"]["count"]
    assert count["type"] == "integer"
