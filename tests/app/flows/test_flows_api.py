"""Flows over REST, run through the real langgraph-sdk against a real server.

One server for the module (flows are created under distinct ids per test).
The ``review`` flow (tests/graphs/flows/reference.py) has a condition, a
bounded loop, two parallel branches joined, a code subgraph and an interrupt.
"""

from __future__ import annotations

import asyncio
import copy
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonpatch
import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command as LGCommand
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.schema import Command

from app.settings import FlowSettings
from graphs.flows.components.catalog import ComponentCatalog
from graphs.models import OfflineChatModel
from graphs.registry import GraphRegistry
from tests.conftest import make_settings
from tests.graphs.flows.reference import FLOW, GATE, comparable, reference_builder
from tests.graphs.flows.test_validate import BROKEN, EXPECTED
from tests.support.plugin import PLUGIN_DIST, install_plugin
from tests.support.server import RunningServer, run_server

ROOT = Path(__file__).resolve().parents[3]
ASK: dict[str, Any] = {"messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("flows")
    site = install_plugin(root / "site")  # a plugin "installed" before the server starts
    sys.path.insert(0, str(site))
    settings = make_settings(root, flows=FlowSettings(function_modules=["tests.graphs.flows"]))
    try:
        with run_server(settings) as running:
            yield running
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("switchyard_upper", None)


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        yield client


@pytest.fixture
async def sdk(server: RunningServer) -> AsyncIterator[LangGraphClient]:
    client = get_client(url=server.url, timeout=60)
    yield client
    await client.aclose()


def flow(flow_id: str, **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(FLOW)
    data.update(id=flow_id, **changes)
    return data


async def _reference_state(answer: str | None, limit: int = 3) -> dict[str, Any]:
    """The same logic as a hand-written StateGraph, run in-process."""
    registry = GraphRegistry.from_config_files(
        [GraphRegistry.builtin_config()],
        checkpointer=InMemorySaver(),
        deps={"model": OfflineChatModel(), "outbox": Path("unused")},
        components=ComponentCatalog.discover(use_entry_points=False),
    )
    graph: Any = reference_builder(await registry.get_subgraph("chat"), limit).compile(
        checkpointer=InMemorySaver()
    )
    config: Any = {"configurable": {"thread_id": "reference"}}
    result = await graph.ainvoke(ASK, config)
    if answer is not None:
        result = await graph.ainvoke(LGCommand(resume=answer), config)
    return dict(result)


async def test_validate_when_broken_flow_then_every_problem_with_its_path(
    http: httpx.AsyncClient,
) -> None:
    answer = await http.post("/flows/validate", json=BROKEN)
    assert answer.status_code == 200
    body = answer.json()
    assert body["valid"] is False
    found = {(p["path"], p["code"]) for p in body["problems"]}
    # Over HTTP the subgraph check knows the server's graphs: "nowhere" is still unknown.
    assert found == EXPECTED
    created = await http.post("/flows", json=BROKEN)
    assert created.status_code == 422
    assert created.json()["code"] == "invalid_flow"
    assert len(created.json()["problems"]) == len(body["problems"])


@pytest.mark.parametrize(
    "hostile",
    ["trail.__class__", "__import__('os')", "open('/etc/passwd')", "9 ** 9 ** 9", "x.y"],
)
async def test_validate_when_expression_is_hostile_then_refused_and_never_stored(
    http: httpx.AsyncClient, hostile: str
) -> None:
    data = flow("hostile")
    data["edges"][2]["when"] = hostile
    body = (await http.post("/flows/validate", json=data)).json()
    assert [(p["path"], p["code"]) for p in body["problems"]] == [
        ("$.edges[2].when", "bad_expression")
    ]
    assert (await http.post("/flows", json=data)).status_code == 422
    assert (await http.get("/flows/hostile")).status_code == 404


async def test_validate_when_params_given_then_wrong_types_reported(
    http: httpx.AsyncClient,
) -> None:
    body = (
        await http.post("/flows/validate", json={"flow": flow("p"), "params": {"limit": "x"}})
    ).json()
    assert [(p["path"], p["code"]) for p in body["problems"]] == [("$.params.limit", "bad_param")]


async def test_review_flow_when_created_streamed_interrupted_and_resumed_then_equals_stategraph(
    http: httpx.AsyncClient, sdk: LangGraphClient
) -> None:
    created = await http.post("/flows", json=flow("review"))
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1
    assistants = {a["graph_id"]: a for a in await sdk.assistants.search(limit=100)}
    assert str(assistants["review"]["description"]).startswith("Counts up")

    thread = await sdk.threads.create()
    parts = [
        part
        async for part in sdk.runs.stream(
            thread["thread_id"],
            "review",
            input=ASK,
            stream_mode=["updates", "messages-tuple", "delta"],  # type: ignore[list-item]
            stream_subgraphs=True,
        )
    ]
    events = [part.event for part in parts]
    assert "error" not in events, parts[-1]
    # The code subgraph's events carry its namespace; its tokens stream.
    assert any(e.startswith("updates|chat:") for e in events)
    assert any(e.startswith("messages|chat:") for e in events)
    # Deltas rebuild the root state exactly.
    state: Any = None
    for part in parts:
        if part.event == "delta":
            state = jsonpatch.apply_patch(state, part.data["ops"])
    stored = await sdk.threads.get_state(thread["thread_id"])
    # The last values chunk carries the interrupt, as LangGraph's own does.
    assert state.pop("__interrupt__")[0]["value"] == {"question": "approve long?"}
    assert state == stored["values"]
    assert stored["next"] == ["ask"]
    assert stored["tasks"][0]["interrupts"][0]["value"] == {"question": "approve long?"}
    assert (await sdk.threads.get(thread["thread_id"]))["status"] == "interrupted"

    final: Any = await sdk.runs.wait(thread["thread_id"], "review", command=Command(resume="yes"))
    assert comparable(final) == comparable(await _reference_state("yes"))
    assert final["trail"][-1] == "done"


async def test_review_flow_when_batched_with_params_then_each_item_follows_its_params(
    http: httpx.AsyncClient,
) -> None:
    await http.post("/flows", json=flow("batched"))
    items = [
        {
            "assistant_id": "batched",
            "input": ASK,
            "config": {"configurable": {"flow_params": {"limit": 0}}},
        },
        {"assistant_id": "batched", "input": ASK},
        {
            "assistant_id": "batched",
            "input": ASK,
            "config": {"configurable": {"flow_params": {"limit": "x"}}},
        },
    ]
    answer = await http.post("/runs/batch/wait", json=items[:2])
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    short, long = results[0], results[1]
    assert short["status"] == "success"
    assert comparable(short["output"]) == comparable(await _reference_state(None, limit=0))
    # Stopped at the interrupt (the run itself succeeded, as on LangGraph Server).
    assert long["status"] == "success"
    assert long["output"]["__interrupt__"][0]["value"] == {"question": "approve long?"}
    assert long["output"]["count"] == 3
    refused = await http.post("/runs/wait", json=items[2])
    assert refused.status_code == 422
    assert "params.limit" in refused.json()["detail"]


async def test_flow_when_put_during_a_run_then_run_keeps_its_version(
    http: httpx.AsyncClient, sdk: LangGraphClient
) -> None:
    def slow(mark: str) -> dict[str, Any]:
        return {
            "id": "held",
            "state": {"mark": {"type": "string"}},
            "nodes": [
                {
                    "id": "wait",
                    "type": "function",
                    "config": {
                        "function": "tests.graphs.flows.reference:gate",
                        "args": {"mark": mark},
                    },
                }
            ],
            "edges": [{"from": "START", "to": "wait"}],
        }

    GATE.reset()
    assert (await http.post("/flows", json=slow("v1"))).status_code == 201
    thread = await sdk.threads.create()
    run = await sdk.runs.create(thread["thread_id"], "held", input={})
    assert await asyncio.to_thread(GATE.entered.wait, 60)
    updated = await http.put("/flows/held", json=slow("v2"))
    assert updated.status_code == 200
    assert [v["version"] for v in updated.json()["versions"]] == [2, 1]
    assistant = await sdk.assistants.get("held")
    assert (assistant["version"], assistant["metadata"]) == (2, {"created_by": "flow"})
    GATE.release.set()
    await sdk.runs.join(thread["thread_id"], run["run_id"])
    assert (await sdk.threads.get_state(thread["thread_id"]))["values"] == {"mark": "v1"}
    again = await sdk.runs.wait(None, "held", input={})
    assert again == {"mark": "v2"}
    v1 = (await http.get("/flows/held", params={"version": 1})).json()
    assert v1["document"]["nodes"][0]["config"]["args"] == {"mark": "v1"}


async def test_flows_when_listed_got_and_deleted_then_assistants_follow(
    http: httpx.AsyncClient, sdk: LangGraphClient
) -> None:
    await http.post("/flows", json=flow("listed"))
    listed = {f["flow_id"]: f for f in (await http.get("/flows")).json()}
    assert listed["listed"]["version"] == 1
    got = (await http.get("/flows/listed")).json()
    assert got["document"]["id"] == "listed"
    assert (await http.post("/flows", json=flow("listed"))).status_code == 409
    assert (await http.post("/flows", json=flow("chat"))).status_code == 409  # a code graph
    assert (await http.delete("/flows/listed")).status_code == 204
    assert (await http.get("/flows/listed")).status_code == 404
    assert "listed" not in {a["graph_id"] for a in await sdk.assistants.search(limit=100)}
    missing = await http.put("/flows/listed", json=flow("listed"))
    assert missing.status_code == 404
    assert missing.json()["code"] == "flow_not_found"


async def test_flow_when_posted_as_yaml_then_stored_as_json(http: httpx.AsyncClient) -> None:
    text = """
id: yamlish
state:
  greeting: {type: string}
nodes:
  - {id: hi, type: transform, config: {set: {greeting: "hi {{state.greeting}}"}}}
edges:
  - {from: START, to: hi}
"""
    answer = await http.post("/flows", content=text, headers={"content-type": "application/yaml"})
    assert answer.status_code == 201, answer.text
    result = await http.post(
        "/runs/wait", json={"assistant_id": "yamlish", "input": {"greeting": "there"}}
    )
    assert result.json() == {"greeting": "hi there"}


async def test_components_when_plugin_installed_then_listed_with_schema_and_runs(
    http: httpx.AsyncClient,
) -> None:
    listed = (await http.get("/components")).json()
    by_name = {c["name"]: c for c in listed["components"]}
    assert by_name["upper"]["source"] == f"entry-point:{PLUGIN_DIST}:upper"
    assert by_name["upper"]["config_schema"]["required"] == ["channel"]
    assert {"llm", "transform", "function", "subgraph", "router", "interrupt", "mcp_tool"} <= set(
        by_name
    )
    shouting = {
        "id": "shouting",
        "state": {"text": {"type": "string"}},
        "nodes": [{"id": "up", "type": "upper", "config": {"channel": "text"}}],
        "edges": [{"from": "START", "to": "up"}],
    }
    assert (await http.post("/flows", json=shouting)).status_code == 201
    result = await http.post(
        "/runs/wait", json={"assistant_id": "shouting", "input": {"text": "psst"}}
    )
    assert result.json() == {"text": "PSST"}


async def test_schema_when_fetched_then_it_is_the_published_one(http: httpx.AsyncClient) -> None:
    from graphs.flows.document import flow_json_schema

    assert (await http.get("/flows/schema")).json() == flow_json_schema()


async def test_flow_when_50_first_runs_at_once_then_compiled_once_per_version(
    http: httpx.AsyncClient,
) -> None:
    counted: dict[str, Any] = {
        "id": "counted",
        "state": {"n": {"type": "integer", "default": 0}},
        "nodes": [{"id": "inc", "type": "transform", "config": {"compute": {"n": "n + 1"}}}],
        "edges": [{"from": "START", "to": "inc"}],
    }
    assert (await http.post("/flows", json=counted)).status_code == 201

    async def fifty() -> list[Any]:
        body = {"assistant_id": "counted", "input": {"n": 1}}
        # Fresh connections: a pooled one the server closed while idle would fail at random.
        async with httpx.AsyncClient(base_url=str(http.base_url), timeout=60) as fresh:
            answers = await asyncio.gather(
                *(fresh.post("/runs/wait", json=body) for _ in range(50))
            )
        return [a.json() for a in answers]

    assert await fifty() == [{"n": 2}] * 50
    info = (await http.get("/info")).json()
    assert info["graphs"]["counted"]["compiles"] == 1
    counted["nodes"][0]["config"]["compute"]["n"] = "n + 10"
    assert (await http.put("/flows/counted", json=counted)).status_code == 200
    assert await fifty() == [{"n": 11}] * 50
    assert (await http.get("/info")).json()["graphs"]["counted"]["compiles"] == 2


async def test_flow_when_put_with_new_description_then_assistant_search_shows_it(
    http: httpx.AsyncClient, sdk: LangGraphClient
) -> None:
    assert (await http.post("/flows", json=flow("described"))).status_code == 201
    changed = flow("described", description="Now it does something else.")
    assert (await http.put("/flows/described", json=changed)).status_code == 200
    found = await sdk.assistants.search(graph_id="described", limit=10)
    assert [a["description"] for a in found] == ["Now it does something else."]


@pytest.mark.parametrize("content", [b"", b"null", b"[1, 2]", b'"a flow"'])
async def test_validate_when_body_is_no_document_then_422_saying_so(
    http: httpx.AsyncClient, content: bytes
) -> None:
    answer = await http.post(
        "/flows/validate", content=content, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422
    assert answer.json()["detail"] == "body must be a flow document (a JSON or YAML object)"
