"""Components: the built-ins' schemas, plugins by entry point or setting, the router step."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig

from graphs.flows.components.catalog import ComponentCatalog
from graphs.flows.document import FlowDocument
from graphs.flows.validate import validate_flow
from graphs.registry import GraphRegistry
from routers.config import RouterSettings, build_router
from tests.graphs.flows.conftest import FUNCTION_MODULES
from tests.support.plugin import PLUGIN_DIST, install_plugin

BUILTINS = ["llm", "transform", "function", "subgraph", "router", "interrupt", "mcp_tool"]

SHOUTING = {
    "id": "shouting",
    "state": {"text": {"type": "string"}},
    "nodes": [{"id": "up", "type": "upper", "config": {"channel": "text"}}],
    "edges": [{"from": "START", "to": "up"}],
}


def _thread() -> RunnableConfig:
    return {"configurable": {"thread_id": str(uuid.uuid4())}}


@pytest.fixture
def plugin_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = install_plugin(tmp_path / "site")
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delitem(sys.modules, "switchyard_upper", raising=False)
    return root


def test_catalog_when_described_then_every_builtin_has_a_config_schema(
    components: ComponentCatalog,
) -> None:
    described = {c["name"]: c for c in components.describe()}
    assert list(described) == BUILTINS
    llm = described["llm"]["config_schema"]
    assert set(llm["properties"]) == {"prompt", "system", "history", "write"}
    assert described["mcp_tool"]["config_schema"]["required"] == ["server", "tool", "write"]
    assert all(c["source"] == "builtin" for c in described.values())


async def test_plugin_when_installed_with_entry_point_then_listed_and_runs_in_a_flow(
    plugin_on_path: Path, tmp_path: Path
) -> None:
    catalog = ComponentCatalog.discover()
    described = {c["name"]: c for c in catalog.describe()}
    assert described["upper"]["source"] == f"entry-point:{PLUGIN_DIST}:upper"
    assert described["upper"]["config_schema"]["required"] == ["channel"]
    assert validate_flow(SHOUTING, catalog) == []
    registry = GraphRegistry([], checkpointer=None, components=catalog)
    registry.put_flow(FlowDocument.model_validate(SHOUTING), 1)
    result = await (await registry.get("shouting")).ainvoke({"text": "quiet please"})
    assert result == {"text": "QUIET PLEASE"}


def test_plugin_when_absent_then_flow_using_it_is_unknown_component(
    components: ComponentCatalog,
) -> None:
    problems = validate_flow(SHOUTING, components)
    assert [(p.path, p.code) for p in problems] == [("$.nodes[0].type", "unknown_component")]


def test_plugin_when_listed_in_settings_then_loaded_and_bad_specs_reported(
    plugin_on_path: Path,
) -> None:
    catalog = ComponentCatalog.discover(
        specs=[
            "switchyard_upper:UpperCase",
            "no_such_module:Thing",
            "switchyard_upper:UpperConfig",
        ],
        use_entry_points=False,
    )
    assert "upper" in catalog.names()
    assert set(catalog.errors) == {
        "setting:no_such_module:Thing",
        "setting:switchyard_upper:UpperConfig",
    }
    assert "ModuleNotFoundError" in catalog.errors["setting:no_such_module:Thing"]
    assert "expected a Component" in catalog.errors["setting:switchyard_upper:UpperConfig"]


def test_plugin_when_name_is_taken_then_builtin_stays_and_error_kept(
    plugin_on_path: Path, tmp_path: Path
) -> None:
    module = plugin_on_path / "switchyard_upper" / "__init__.py"
    module.write_text(module.read_text().replace('name = "upper"', 'name = "llm"'))
    catalog = ComponentCatalog.discover(function_modules=FUNCTION_MODULES)
    assert catalog.describe()[0]["source"] == "builtin"
    assert "taken by builtin" in catalog.errors[f"entry-point:{PLUGIN_DIST}:upper"]


async def test_function_when_async_then_awaited_with_rendered_args(
    registry: GraphRegistry,
) -> None:
    flow = {
        "id": "calls",
        "state": {"name": {"type": "string"}, "greeting": {"type": "string"}},
        "nodes": [
            {
                "id": "greet",
                "type": "function",
                "config": {
                    "function": "tests.graphs.flows.test_components:greet",
                    "args": {"who": "{{state.name}}"},
                },
            }
        ],
        "edges": [{"from": "START", "to": "greet"}],
    }
    registry.put_flow(FlowDocument.model_validate(flow), 1)
    result = await (await registry.get("calls")).ainvoke({"name": "Ada"}, _thread())
    assert result == {"name": "Ada", "greeting": "hello Ada"}


async def greet(state: dict[str, Any], who: str) -> dict[str, Any]:
    return {"greeting": f"hello {who}"}


async def test_router_step_when_rule_matches_then_decision_written_and_streamed(
    registry: GraphRegistry,
) -> None:
    router = build_router(RouterSettings(), {"chat": "chat", "content": "content"})
    registry.provide(router=router)
    flow = {
        "id": "routed",
        "state": {"messages": {"type": "messages"}, "route": {"type": "object"}},
        "nodes": [
            {"id": "decide", "type": "router", "config": {}},
            {"id": "publish", "type": "subgraph", "config": {"graph": "chat"}},
        ],
        "edges": [
            {"from": "START", "to": "decide"},
            {"from": "decide", "to": "publish", "when": "route['target'] == 'content'"},
        ],
    }
    registry.put_flow(FlowDocument.model_validate(flow), 1)
    graph = await registry.get("routed")
    events: list[Any] = []
    ask = {"messages": [{"role": "user", "content": "please publish a post about trains"}]}
    async for mode, chunk in graph.astream(ask, _thread(), stream_mode=["custom", "values"]):
        events.append((mode, chunk))
    custom = [chunk for mode, chunk in events if mode == "custom"]
    assert custom[0]["type"] == "route"
    assert custom[0]["target"] == "content"
    final = [chunk for mode, chunk in events if mode == "values"][-1]
    assert final["route"]["source"].startswith("rule:")
    assert len(final["messages"]) == 2  # the chat subgraph answered
    await router.aclose()
