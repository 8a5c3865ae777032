"""The official langgraph-sdk client against a real Switchyard server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.pregel.remote import RemoteGraph
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import ConflictError
from langgraph_sdk.schema import Command, StreamPart

from tests.fixtures.graphs.steps import StepsState
from tests.support.server import RunningServer


@pytest.fixture
async def sdk(server: RunningServer) -> AsyncIterator[LangGraphClient]:
    client = get_client(url=server.url)
    yield client
    await client.aclose()


async def _collect(stream: Any) -> list[StreamPart]:
    return [part async for part in stream]


async def test_assistants_search_when_graphs_registered_then_one_assistant_each(
    sdk: LangGraphClient,
) -> None:
    found = await sdk.assistants.search(limit=100)
    graph_ids = {a["graph_id"] for a in found}
    assert {"chat", "content", "steps", "nested", "approval"} <= graph_ids
    steps = next(a for a in found if a["graph_id"] == "steps")
    assert (await sdk.assistants.get(steps["assistant_id"]))["graph_id"] == "steps"


async def test_stream_values_when_thread_run_then_metadata_values_and_state(
    sdk: LangGraphClient,
) -> None:
    thread = await sdk.threads.create()
    parts = await _collect(
        sdk.runs.stream(thread["thread_id"], "steps", input={"steps": []}, stream_mode="values")
    )
    assert parts[0].event == "metadata"
    values = [p.data for p in parts if p.event == "values"]
    assert values[-1] == {"steps": ["one", "two", "three"]}
    state = await sdk.threads.get_state(thread["thread_id"])
    assert state["values"] == {"steps": ["one", "two", "three"]}
    assert (await sdk.threads.get(thread["thread_id"]))["status"] == "idle"


async def test_stream_when_several_modes_then_each_event_named_by_mode(
    sdk: LangGraphClient,
) -> None:
    parts = await _collect(
        sdk.runs.stream(
            None, "steps", input={"steps": []}, stream_mode=["updates", "custom", "debug"]
        )
    )
    events = [p.event for p in parts]
    assert events.count("updates") == 3
    assert {"progress": "two"} in [p.data for p in parts if p.event == "custom"]
    assert "debug" in events
    assert events[-1] != "error"


async def test_stream_messages_tuple_when_chat_then_tokens_arrive(sdk: LangGraphClient) -> None:
    parts = await _collect(
        sdk.runs.stream(
            None,
            "chat",
            input={"messages": [{"role": "user", "content": "hello there"}]},
            stream_mode="messages-tuple",
        )
    )
    chunks = [p.data for p in parts if p.event == "messages"]
    assert len(chunks) > 1, "tokens should stream one chunk at a time"
    text = "".join(chunk[0]["content"] for chunk in chunks)
    assert "hello there" in text
    assert chunks[0][1]["langgraph_node"]


async def test_stream_when_subgraphs_then_events_carry_namespace(sdk: LangGraphClient) -> None:
    parts = await _collect(
        sdk.runs.stream(
            None, "nested", input={"steps": []}, stream_mode="updates", stream_subgraphs=True
        )
    )
    nested = [p.event for p in parts if p.event.startswith("updates|")]
    assert nested
    assert all(e.startswith("updates|inner:") for e in nested)
    assert len(nested) == 3


async def test_wait_when_stateless_then_final_values(sdk: LangGraphClient) -> None:
    result = await sdk.runs.wait(None, "steps", input={"steps": ["zero"]})
    assert result == {"steps": ["zero", "one", "two", "three"]}


async def test_create_then_join_when_background_run_then_values_and_success(
    sdk: LangGraphClient,
) -> None:
    thread = await sdk.threads.create()
    run = await sdk.runs.create(thread["thread_id"], "steps", input={"steps": []})
    assert run["status"] in ("pending", "running", "success")
    result = await sdk.runs.join(thread["thread_id"], run["run_id"])
    assert result == {"steps": ["one", "two", "three"]}
    assert (await sdk.runs.get(thread["thread_id"], run["run_id"]))["status"] == "success"
    listed = await sdk.runs.list(thread["thread_id"])
    assert [r["run_id"] for r in listed] == [run["run_id"]]


async def test_cancel_when_run_is_sleeping_then_interrupted(sdk: LangGraphClient) -> None:
    thread = await sdk.threads.create()
    run = await sdk.runs.create(thread["thread_id"], "slow", input={"sleep_s": 60})
    await sdk.runs.cancel(thread["thread_id"], run["run_id"], wait=True)
    final = await sdk.runs.get(thread["thread_id"], run["run_id"])
    assert final["status"] == "interrupted"


async def test_history_when_two_runs_then_checkpoints_newest_first(sdk: LangGraphClient) -> None:
    thread = await sdk.threads.create()
    await sdk.runs.wait(thread["thread_id"], "steps", input={"steps": []})
    await sdk.runs.wait(thread["thread_id"], "steps", input={"steps": ["again"]})
    history = await sdk.threads.get_history(thread["thread_id"], limit=50)
    latest: Any = history[0]["values"]
    assert latest["steps"] == ["one", "two", "three", "again", "one", "two", "three"]
    assert len(history) >= 8


async def test_interrupt_when_resumed_with_command_then_graph_finishes(
    sdk: LangGraphClient,
) -> None:
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    first = await _collect(
        sdk.runs.stream(tid, "approval", input={"draft": "post"}, stream_mode="updates")
    )
    interrupts = [p.data["__interrupt__"] for p in first if "__interrupt__" in (p.data or {})]
    assert interrupts
    assert interrupts[0][0]["value"]["question"] == "approve?"
    assert (await sdk.threads.get(tid))["status"] == "interrupted"
    state = await sdk.threads.get_state(tid)
    assert state["next"] == ["review"]
    await _collect(sdk.runs.stream(tid, "approval", command=Command(resume=True)))
    final = await sdk.threads.get_state(tid)
    final_values: Any = final["values"]
    assert final_values["result"] == "published"
    assert (await sdk.threads.get(tid))["status"] == "idle"


async def test_multitask_reject_when_thread_busy_then_409(sdk: LangGraphClient) -> None:
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    busy = await sdk.runs.create(tid, "slow", input={"sleep_s": 60})
    with pytest.raises(ConflictError):
        await sdk.runs.create(tid, "steps", input={"steps": []}, multitask_strategy="reject")
    await sdk.runs.cancel(tid, busy["run_id"], wait=True)


async def test_multitask_enqueue_when_thread_busy_then_runs_in_order(
    sdk: LangGraphClient,
) -> None:
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    first = await sdk.runs.create(tid, "steps", input={"steps": ["a"]})
    second = await sdk.runs.create(tid, "steps", input={"steps": ["b"]})
    await sdk.runs.join(tid, second["run_id"])
    state = await sdk.threads.get_state(tid)
    values: Any = state["values"]
    assert values["steps"] == ["a", "one", "two", "three", "b", "one", "two", "three"]
    assert (await sdk.runs.get(tid, first["run_id"]))["status"] == "success"


async def test_multitask_interrupt_when_thread_busy_then_old_run_interrupted(
    sdk: LangGraphClient,
) -> None:
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    old = await sdk.runs.create(tid, "slow", input={"sleep_s": 60})
    new = await sdk.runs.create(tid, "slow", input={"sleep_s": 0}, multitask_strategy="interrupt")
    await sdk.runs.join(tid, new["run_id"])
    assert (await sdk.runs.get(tid, old["run_id"]))["status"] == "interrupted"
    assert (await sdk.runs.get(tid, new["run_id"]))["status"] == "success"


async def test_remote_graph_when_used_as_node_then_local_graph_gets_remote_result(
    sdk: LangGraphClient,
) -> None:
    remote = RemoteGraph("steps", client=sdk)
    builder: StateGraph[StepsState, Any, StepsState, StepsState] = StateGraph(StepsState)
    builder.add_node("remote", remote)
    builder.add_node("local", lambda state: {"steps": ["local"]})
    builder.add_edge(START, "remote")
    builder.add_edge("remote", "local")
    builder.add_edge("local", END)
    result = await builder.compile().ainvoke({"steps": []})
    assert result["steps"][-1] == "local"
    assert result["steps"][-4:-1] == ["one", "two", "three"]


async def test_error_when_graph_raises_then_error_event_and_status(sdk: LangGraphClient) -> None:
    thread = await sdk.threads.create()
    parts = await _collect(sdk.runs.stream(thread["thread_id"], "failing", input={"value": 1}))
    errors = [p.data for p in parts if p.event == "error"]
    assert errors
    assert errors[0]["error"] == "ValueError"
    assert "boom" in errors[0]["message"]
    runs = await sdk.runs.list(thread["thread_id"])
    assert runs[0]["status"] == "error"
    assert (await sdk.threads.get(thread["thread_id"]))["status"] == "error"


async def test_concurrent_streams_when_fifty_clients_then_all_complete(
    sdk: LangGraphClient,
) -> None:
    async def one() -> list[str]:
        parts = await _collect(sdk.runs.stream(None, "steps", input={"steps": []}))
        return [p.event for p in parts]

    results = await asyncio.gather(*(one() for _ in range(50)))
    assert all(r[0] == "metadata" and r.count("values") == 4 for r in results)


async def test_run_metadata_when_graph_uses_the_model_then_names_it(sdk: LangGraphClient) -> None:
    thread = await sdk.threads.create()
    chat = await sdk.runs.create(
        thread["thread_id"], "chat", input={"messages": [{"role": "user", "content": "hi"}]}
    )
    steps = await sdk.runs.create(None, "steps", input={}, on_completion="keep")
    chat_metadata: Any = chat["metadata"]
    steps_metadata: Any = steps["metadata"]
    assert chat_metadata["model"] == "switchyard-offline"
    assert "model" not in steps_metadata


async def test_nested_when_run_twice_on_one_thread_then_steps_grow_linearly(
    sdk: LangGraphClient,
) -> None:
    """Regression: parent and subgraph both reduced `steps`, doubling it per run."""
    thread = await sdk.threads.create()
    await sdk.runs.wait(thread["thread_id"], "nested", input={"steps": []})
    second: Any = await sdk.runs.wait(thread["thread_id"], "nested", input={})
    once = ["before", "one", "two", "three"]
    assert second["steps"] == once + once
