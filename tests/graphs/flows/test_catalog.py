"""Flows in the registry: compiled once per (version, params), versions never disturb runs."""

from __future__ import annotations

import asyncio
import copy
import uuid
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from pydantic import BaseModel, ConfigDict

from graphs.flows.components.base import Component, NodeContext, NodeFunction
from graphs.flows.components.catalog import ComponentCatalog, ComponentInfo, builtin_components
from graphs.flows.document import FlowDocument
from graphs.flows.params import FlowParamsError
from graphs.loader import GraphLoadError
from graphs.models import OfflineChatModel
from graphs.registry import GraphRegistry, UnknownGraph
from tests.graphs.flows.reference import FLOW


class GateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mark: str = ""


class Gate(Component):
    """Blocks where the test says: while building (``build_gate``) and while running."""

    name = "gate"
    config_model = GateConfig

    def __init__(self) -> None:
        self.build_started = asyncio.Event()
        self.build_gate = asyncio.Event()
        self.build_gate.set()
        self.run_started = asyncio.Event()
        self.run_gate = asyncio.Event()
        self.run_gate.set()

    async def build(self, config: BaseModel, context: NodeContext) -> NodeFunction:
        assert isinstance(config, GateConfig)
        self.build_started.set()
        await self.build_gate.wait()

        async def run(state: dict[str, Any], run_config: RunnableConfig) -> dict[str, Any]:
            self.run_started.set()
            await self.run_gate.wait()
            return {"mark": config.mark}

        return run


def _gated_flow(mark: str) -> FlowDocument:
    return FlowDocument.model_validate(
        {
            "id": "gated",
            "params": {"suffix": {"type": "string", "default": ""}},
            "state": {"mark": {"type": "string"}},
            "nodes": [{"id": "g", "type": "gate", "config": {"mark": mark + "{{params.suffix}}"}}],
            "edges": [{"from": "START", "to": "g"}],
        }
    )


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def gated_registry(gate: Gate, tmp_path: Path) -> GraphRegistry:
    infos = [ComponentInfo(c, "builtin") for c in builtin_components()]
    catalog = ComponentCatalog([*infos, ComponentInfo(gate, "test")])
    return GraphRegistry(
        [],
        checkpointer=InMemorySaver(),
        deps={"model": OfflineChatModel()},
        components=catalog,
    )


def _thread() -> RunnableConfig:
    return {"configurable": {"thread_id": str(uuid.uuid4())}}


async def test_flow_when_50_first_requests_at_once_then_compiled_once(
    gated_registry: GraphRegistry, gate: Gate
) -> None:
    gated_registry.put_flow(_gated_flow("v1"), 1)
    gate.build_gate.clear()
    tasks = [asyncio.create_task(gated_registry.get("gated")) for _ in range(50)]
    await gate.build_started.wait()  # the first is building; the 49 others queued behind it
    gate.build_gate.set()
    graphs = await asyncio.gather(*tasks)
    assert len({id(g) for g in graphs}) == 1
    assert gated_registry.flows.compile_count == {("gated", 1, '{"suffix":""}'): 1}
    # Params spelled out as their defaults are the same compile; others are new ones.
    await gated_registry.get("gated", params={"suffix": ""})
    await asyncio.gather(*(gated_registry.get("gated", params={"suffix": "!"}) for _ in range(50)))
    assert gated_registry.flows.compile_count == {
        ("gated", 1, '{"suffix":""}'): 1,
        ("gated", 1, '{"suffix":"!"}'): 1,
    }


async def test_flow_when_new_version_put_during_a_run_then_that_run_finishes_on_its_version(
    gated_registry: GraphRegistry, gate: Gate
) -> None:
    gated_registry.put_flow(_gated_flow("v1"), 1)
    old = await gated_registry.get("gated")
    gate.run_gate.clear()
    running = asyncio.create_task(old.ainvoke({}, _thread()))
    await gate.run_started.wait()
    gated_registry.put_flow(_gated_flow("v2"), 2)
    new = await gated_registry.get("gated")
    gate.run_gate.set()
    assert (await running)["mark"] == "v1"
    assert (await new.ainvoke({}, _thread()))["mark"] == "v2"
    assert new is not old
    assert set(gated_registry.flows.compile_count) == {
        ("gated", 1, '{"suffix":""}'),
        ("gated", 2, '{"suffix":""}'),
    }


async def test_flow_when_params_do_not_fit_then_params_error_lists_them(
    registry: GraphRegistry,
) -> None:
    registry.put_flow(FlowDocument.model_validate(FLOW), 1)
    with pytest.raises(FlowParamsError) as caught:
        await registry.get("review", params={"limit": "x", "nope": 1})
    assert {path for path, _ in caught.value.problems} == {"params.limit", "params.nope"}
    assert registry.flows.compile_count == {}


async def test_flow_when_subgraph_missing_then_load_error_not_cached(
    registry: GraphRegistry,
) -> None:
    needs = {
        "id": "outer",
        "state": {"x": {"type": "any"}},
        "nodes": [{"id": "inner", "type": "subgraph", "config": {"graph": "later"}}],
        "edges": [{"from": "START", "to": "inner"}],
    }
    registry.put_flow(FlowDocument.model_validate(needs), 1)
    with pytest.raises(GraphLoadError, match="later"):
        await registry.get("outer")
    later = {
        "id": "later",
        "state": {"x": {"type": "any"}},
        "nodes": [{"id": "set", "type": "transform", "config": {"set": {"x": "done"}}}],
        "edges": [{"from": "START", "to": "set"}],
    }
    registry.put_flow(FlowDocument.model_validate(later), 1)
    result = await (await registry.get("outer")).ainvoke({}, _thread())
    assert result == {"x": "done"}


async def test_flow_when_it_embeds_itself_then_load_error_names_the_cycle(
    registry: GraphRegistry,
) -> None:
    selfish = copy.deepcopy(FLOW)
    selfish["nodes"][6] = {"id": "chat", "type": "subgraph", "config": {"graph": "review"}}
    registry.put_flow(FlowDocument.model_validate(selfish), 1)
    with pytest.raises(GraphLoadError, match="circular graph dependency: review -> review"):
        await asyncio.wait_for(registry.get("review"), 10)


async def test_flow_when_removed_then_unknown_and_id_of_code_graph_refused(
    registry: GraphRegistry,
) -> None:
    registry.put_flow(FlowDocument.model_validate(FLOW), 1)
    assert registry.ids()[-1] == "review"
    assert registry.description("review").startswith("Counts up")
    assert registry.remove_flow("review")
    with pytest.raises(UnknownGraph):
        await registry.get("review")
    taken = copy.deepcopy(FLOW)
    taken["id"] = "chat"
    with pytest.raises(ValueError, match="taken by a code graph"):
        registry.put_flow(FlowDocument.model_validate(taken), 1)


async def test_flow_when_first_requester_cancelled_mid_compile_then_waiter_compiles(
    gated_registry: GraphRegistry, gate: Gate
) -> None:
    gated_registry.put_flow(_gated_flow("v1"), 1)
    gate.build_gate.clear()
    first = asyncio.create_task(gated_registry.get("gated"))
    second = asyncio.create_task(gated_registry.get("gated"))
    await gate.build_started.wait()  # first is building, second waits on its future
    gate.build_started.clear()
    first.cancel()
    await gate.build_started.wait()  # second took over
    gate.build_gate.set()
    graph = await second
    assert first.cancelled()
    assert (await graph.ainvoke({}, _thread()))["mark"] == "v1"
    assert gated_registry.flows.compile_count == {("gated", 1, '{"suffix":""}'): 1}


async def test_flow_when_embedded_flow_gets_a_new_version_then_embedding_flow_uses_it(
    registry: GraphRegistry,
) -> None:
    def inner(word: str) -> FlowDocument:
        return FlowDocument.model_validate(
            {
                "id": "inner",
                "state": {"said": {"type": "string"}},
                "nodes": [{"id": "say", "type": "transform", "config": {"set": {"said": word}}}],
                "edges": [{"from": "START", "to": "say"}],
            }
        )

    outer = {
        "id": "outer",
        "state": {"said": {"type": "string"}},
        "nodes": [{"id": "call", "type": "subgraph", "config": {"graph": "inner"}}],
        "edges": [{"from": "START", "to": "call"}],
    }
    registry.put_flow(inner("one"), 1)
    registry.put_flow(FlowDocument.model_validate(outer), 1)
    assert (await (await registry.get("outer")).ainvoke({}, _thread()))["said"] == "one"
    registry.put_flow(inner("two"), 2)
    assert (await (await registry.get("outer")).ainvoke({}, _thread()))["said"] == "two"


async def test_flow_when_older_version_asked_then_fetched_compiled_once_and_stamped(
    gated_registry: GraphRegistry,
) -> None:
    documents = {1: _gated_flow("v1"), 2: _gated_flow("v2")}
    fetched: list[int] = []

    async def fetch(flow_id: str, version: int) -> FlowDocument:
        fetched.append(version)
        return documents[version]

    gated_registry.flows.fetch = fetch
    gated_registry.put_flow(documents[2], 2)
    olds = await asyncio.gather(*(gated_registry.get("gated", version=1) for _ in range(20)))
    assert len({id(g) for g in olds}) == 1
    assert gated_registry.flows.compile_count[("gated", 1, '{"suffix":""}')] == 1
    config = _thread()
    assert (await olds[0].ainvoke({}, config))["mark"] == "v1"
    assert (await gated_registry.get("gated")) is not olds[0]
    # Its checkpoints say which version (and params) wrote them.
    saved = await olds[0].aget_state(config)
    metadata: dict[str, Any] = dict(saved.metadata or {})
    assert (metadata["flow_version"], metadata["flow_params"]) == (1, '{"suffix":""}')


async def test_flow_when_older_version_not_fetchable_then_load_error_names_the_version(
    gated_registry: GraphRegistry,
) -> None:
    gated_registry.put_flow(_gated_flow("v3"), 3)
    with pytest.raises(GraphLoadError, match="only the served version"):
        await gated_registry.get("gated", version=2)

    async def gone(flow_id: str, version: int) -> FlowDocument:
        raise LookupError(f"flow {flow_id!r} has no version {version}")

    gated_registry.flows.fetch = gone
    with pytest.raises(GraphLoadError, match="version 2 is no longer stored"):
        await gated_registry.get("gated", version=2)
    # Nothing cached: a failed compile is tried again next time.
    assert ("gated", 2, '{"suffix":""}') not in gated_registry.flows.compile_count


async def test_flow_when_many_older_versions_compiled_then_at_most_max_old_stay_cached(
    gate: Gate,
) -> None:
    infos = [ComponentInfo(c, "builtin") for c in builtin_components()]
    registry = GraphRegistry(
        [],
        checkpointer=InMemorySaver(),
        components=ComponentCatalog([*infos, ComponentInfo(gate, "test")]),
    )

    async def fetch(flow_id: str, version: int) -> FlowDocument:
        return _gated_flow(f"v{version}")

    registry.flows.fetch = fetch
    registry.put_flow(_gated_flow("v20"), 20)
    for version in range(1, 12):
        await registry.get("gated", version=version)
    await registry.get("gated", version=1)  # the oldest compile was dropped: compiled again
    assert registry.flows.compile_count[("gated", 1, '{"suffix":""}')] == 2
    await registry.get("gated", version=11)  # still cached
    assert registry.flows.compile_count[("gated", 11, '{"suffix":""}')] == 1
