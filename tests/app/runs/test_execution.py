"""What a node sees of the server in its config."""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict

from app.runs.execution import build_config
from app.schemas import RunCreate


class Seen(TypedDict, total=False):
    metadata: dict[str, Any]
    configured: dict[str, Any]


def look(state: Seen, config: RunnableConfig) -> Seen:
    keys = ("thread_id", "run_id", "graph_id", "assistant_id", "team")
    return {
        "metadata": {k: config["metadata"].get(k) for k in keys},
        "configured": {k: config["configurable"].get(k) for k in keys},
    }


async def test_config_when_client_sends_metadata_then_nodes_and_checkpoints_see_server_ids() -> (
    None
):
    body = RunCreate.model_validate(
        {
            "assistant_id": "looker",
            "metadata": {"team": "blue", "thread_id": "spoofed"},
            "config": {"metadata": {"run_id": "spoofed"}},
        }
    )
    config = build_config(body, thread_id="t-1", run_id="r-1", graph_id="g", assistant_id="a-1")
    builder: StateGraph[Seen, Any, Seen, Seen] = StateGraph(Seen)
    builder.add_node("look", look)
    builder.add_edge(START, "look")
    saver = InMemorySaver()
    seen = await builder.compile(checkpointer=saver).ainvoke({}, config)
    server = {"thread_id": "t-1", "run_id": "r-1", "graph_id": "g", "assistant_id": "a-1"}
    assert seen["metadata"] == {**server, "team": "blue"}
    assert seen["configured"] == {**server, "team": None}
    checkpoint = await saver.aget_tuple({"configurable": {"thread_id": "t-1"}})
    assert checkpoint is not None
    # thread_id is the checkpoint's own key, never in its metadata (LangGraph's rule).
    ids = {k: v for k, v in server.items() if k != "thread_id"}
    assert {k: checkpoint.metadata.get(k) for k in ids} == ids
    assert checkpoint.config["configurable"]["thread_id"] == "t-1"
