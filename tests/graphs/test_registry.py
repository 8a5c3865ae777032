"""GraphRegistry: specs from langgraph.json files, compiled once, clear load errors."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver

from graphs.registry import (
    GraphConfigError,
    GraphLoadError,
    GraphRegistry,
    GraphsFailedToLoad,
    UnknownGraph,
)

GRAPH_MODULE = '''
"""Exclaim: appends an exclamation mark."""
from typing import TypedDict

from langgraph.graph import START, StateGraph


class State(TypedDict):
    text: str


def build() -> StateGraph:
    builder = StateGraph(State)
    builder.add_node("exclaim", lambda state: {"text": state["text"] + "!"})
    builder.add_edge(START, "exclaim")
    return builder


builder = build()
compiled = build().compile()
not_a_graph = 42


def zero_arg():
    return build()


def with_deps(calls, registry, unused=None):
    calls.append(registry)
    return build()


async def async_factory(calls):
    calls.append("async")
    return build().compile()


async def gated(calls, started, gate):
    calls.append("gated")
    started.set()
    await gate.wait()
    return build()


def needs_secret(secret):
    return build()


def boom():
    raise RuntimeError("kaboom")


async def uses_other(registry):
    inner = await registry.get_subgraph("inner")
    outer = StateGraph(State)
    outer.add_node("inner", inner)
    outer.add_edge(START, "inner")
    return outer


async def uses_itself(registry):
    return await registry.get_subgraph("self")
'''

WriteConfig = Callable[..., Path]


@pytest.fixture(autouse=True)
def _restore_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # The registry puts config directories on sys.path; keep tests apart.
    monkeypatch.setattr(sys, "path", list(sys.path))


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    """Write ``graphs.py`` next to a langgraph.json mapping ids to ``./graphs.py:<attr>``."""

    def write(name: str = "langgraph.json", **graphs: Any) -> Path:
        (tmp_path / "graphs.py").write_text(GRAPH_MODULE)
        entries = {
            graph_id: f"./graphs.py:{target}" if isinstance(target, str) else target
            for graph_id, target in graphs.items()
        }
        config = tmp_path / name
        config.write_text(json.dumps({"graphs": entries}))
        return config

    return write


def _registry(config: Path, **deps: Any) -> GraphRegistry:
    return GraphRegistry.from_config_files([config], checkpointer=InMemorySaver(), deps=deps)


async def _exclaim(registry: GraphRegistry, graph_id: str) -> str:
    graph = await registry.get(graph_id)
    config: RunnableConfig = {"configurable": {"thread_id": str(uuid.uuid4())}}
    result = await graph.ainvoke({"text": "hi"}, config)
    return str(result["text"])


async def test_get_when_spec_names_builder_then_compiled_with_checkpointer(
    write_config: WriteConfig,
) -> None:
    registry = _registry(write_config(echo="builder"))
    assert await _exclaim(registry, "echo") == "hi!"
    graph = await registry.get("echo")
    assert isinstance(graph.checkpointer, InMemorySaver)
    assert graph.name == "echo"
    assert registry.compile_count == {"echo": 1}


async def test_get_when_spec_names_compiled_graph_then_checkpointer_attached(
    write_config: WriteConfig,
) -> None:
    registry = _registry(write_config(echo="compiled"))
    assert await _exclaim(registry, "echo") == "hi!"
    assert isinstance((await registry.get("echo")).checkpointer, InMemorySaver)


async def test_get_when_sync_factory_then_deps_passed_by_parameter_name(
    write_config: WriteConfig,
) -> None:
    calls: list[Any] = []
    registry = _registry(write_config(made="with_deps", bare="zero_arg"), calls=calls)
    assert await _exclaim(registry, "made") == "hi!"
    assert await _exclaim(registry, "bare") == "hi!"
    assert calls == [registry]  # `registry` is always supplied, `unused` keeps its default


async def test_get_when_async_factory_then_awaited(write_config: WriteConfig) -> None:
    calls: list[Any] = []
    registry = _registry(write_config(made="async_factory"), calls=calls)
    assert await _exclaim(registry, "made") == "hi!"
    assert calls == ["async"]


async def test_get_when_module_spec_in_dependency_dir_then_imported(tmp_path: Path) -> None:
    module = f"switchyard_test_{uuid.uuid4().hex}"
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / f"{module}.py").write_text(GRAPH_MODULE)
    config = tmp_path / "deploy" / "langgraph.json"
    config.parent.mkdir()
    config.write_text(
        json.dumps({"graphs": {"echo": f"{module}:builder"}, "dependencies": ["../src"]})
    )
    registry = _registry(config)
    assert await _exclaim(registry, "echo") == "hi!"
    assert registry.description("echo") == "Exclaim: appends an exclamation mark."


async def test_from_config_files_when_id_repeats_then_error_names_both_files(
    write_config: WriteConfig,
) -> None:
    first = write_config("one.json", echo="builder")
    second = write_config("two.json", echo="compiled")
    with pytest.raises(GraphConfigError) as caught:
        GraphRegistry.from_config_files([first, second], checkpointer=None)
    assert str(first) in str(caught.value)
    assert str(second) in str(caught.value)


def test_from_config_files_when_json_is_invalid_then_config_error(tmp_path: Path) -> None:
    config = tmp_path / "langgraph.json"
    config.write_text('{"graphs": ')
    with pytest.raises(GraphConfigError, match="invalid graph config"):
        GraphRegistry.from_config_files([config], checkpointer=None)


BROKEN_SPECS = [
    ("./missing.py:graph", "file not found"),
    ("no_such_module_for_switchyard:graph", "import failed: ModuleNotFoundError"),
    ("./graphs.py:nowhere", "has no attribute 'nowhere'"),
    ("./graphs.py:not_a_graph", "got int"),
    ("./graphs.py:boom", "factory raised RuntimeError('kaboom')"),
    ("./graphs.py:needs_secret", "factory parameter 'secret' cannot be supplied"),
    ("./graphs.py", "expected '<module or ./file.py>:<attribute>'"),
]


@pytest.mark.parametrize(("spec", "reason"), BROKEN_SPECS)
async def test_load_all_when_spec_is_broken_then_error_has_spec_and_reason(
    write_config: WriteConfig, spec: str, reason: str
) -> None:
    registry = _registry(write_config(good="builder", bad={"path": spec}))
    with pytest.raises(GraphsFailedToLoad) as caught:
        await registry.load_all()
    [(graph_id, error)] = caught.value.failures
    assert (graph_id, error.spec) == ("bad", spec)
    assert reason in error.reason
    assert f"  - bad: {spec}: " in str(caught.value)


async def test_load_all_when_two_specs_broken_then_one_message_names_both(
    write_config: WriteConfig,
) -> None:
    registry = _registry(
        write_config(first={"path": "./graphs.py:boom"}, good="builder", second="not_a_graph")
    )
    with pytest.raises(GraphsFailedToLoad) as caught:
        await registry.load_all()
    message = str(caught.value)
    assert message.splitlines() == [
        "2 graphs failed to load (fix them, or set SWITCHYARD_SKIP_BROKEN=true to serve the "
        "others):",
        "  - first: ./graphs.py:boom: factory raised RuntimeError('kaboom')",
        "  - second: ./graphs.py:not_a_graph: expected a StateGraph, a compiled graph or a "
        "factory returning one, got int",
    ]


@pytest.mark.parametrize(("spec", "reason"), BROKEN_SPECS)
async def test_load_all_when_skip_broken_then_failure_listed_and_rest_served(
    write_config: WriteConfig, spec: str, reason: str
) -> None:
    registry = _registry(write_config(good="builder", bad={"path": spec}))
    await registry.load_all(skip_broken=True)
    assert registry.ids() == ["good"]
    assert list(registry.failed) == ["bad"]
    assert registry.failed["bad"].startswith(f"{spec}: ")
    assert reason in registry.failed["bad"]
    assert await _exclaim(registry, "good") == "hi!"
    with pytest.raises(GraphLoadError):
        await registry.get("bad")


async def test_get_when_graph_file_has_syntax_error_then_load_error(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def oops(:\n")
    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"graphs": {"broken": "./broken.py:graph"}}))
    with pytest.raises(GraphLoadError, match="import failed: SyntaxError"):
        await _registry(config).get("broken")


async def test_get_when_50_concurrent_first_calls_then_compiled_exactly_once(
    write_config: WriteConfig,
) -> None:
    calls: list[Any] = []
    started, gate = asyncio.Event(), asyncio.Event()
    registry = _registry(write_config(slow="gated"), calls=calls, started=started, gate=gate)
    getters = [asyncio.create_task(registry.get("slow")) for _ in range(50)]
    await started.wait()  # the first caller is inside the factory, the rest queue
    gate.set()
    graphs = await asyncio.gather(*getters)
    assert calls == ["gated"]
    assert registry.compile_count == {"slow": 1}
    assert all(graph is graphs[0] for graph in graphs)


async def test_get_subgraph_when_graph_compiled_then_same_compile_without_checkpointer(
    write_config: WriteConfig,
) -> None:
    calls: list[Any] = []
    registry = _registry(write_config(made="with_deps"), calls=calls)
    graph = await registry.get("made")
    subgraph = await registry.get_subgraph("made")
    assert subgraph.checkpointer is None
    assert graph.checkpointer is not None
    assert all(subgraph.nodes[n] is node for n, node in graph.nodes.items())  # one compile
    assert len(calls) == 1
    assert registry.compile_count == {"made": 1}


async def test_get_when_factory_uses_another_graph_then_no_deadlock(
    write_config: WriteConfig,
) -> None:
    registry = _registry(write_config(outer="uses_other", inner="builder"))
    assert await _exclaim(registry, "outer") == "hi!"
    assert registry.compile_count == {"inner": 1, "outer": 1}


async def test_get_when_factory_depends_on_itself_then_cycle_error(
    write_config: WriteConfig,
) -> None:
    registry = _registry(write_config(self="uses_itself"))
    with pytest.raises(GraphLoadError, match="circular graph dependency: self -> self"):
        await registry.get("self")


async def test_get_when_id_unknown_then_unknown_graph_key_error(
    write_config: WriteConfig,
) -> None:
    registry = _registry(write_config(echo="builder"))
    with pytest.raises(KeyError):
        await registry.get("nope")
    with pytest.raises(UnknownGraph, match="unknown graph 'nope'"):
        registry.spec("nope")


async def test_description_when_config_has_none_then_module_docstring_then_id(
    write_config: WriteConfig,
) -> None:
    described = {"path": "./graphs.py:builder", "description": "Says it loudly."}
    registry = _registry(write_config(plain="builder", described=described))
    assert registry.description("plain") == "plain"  # not imported yet
    await registry.load_all()
    assert registry.description("plain") == "Exclaim: appends an exclamation mark."
    assert registry.description("described") == "Says it loudly."


async def test_get_when_two_ids_share_a_file_then_module_imported_once(tmp_path: Path) -> None:
    marker = f"switchyard_import_count_{uuid.uuid4().hex}"
    source = textwrap.dedent(f"""
        import builtins
        setattr(builtins, {marker!r}, getattr(builtins, {marker!r}, 0) + 1)
    """)
    (tmp_path / "graphs.py").write_text(source + GRAPH_MODULE)
    config = tmp_path / "langgraph.json"
    config.write_text(
        json.dumps({"graphs": {"a": "./graphs.py:builder", "b": "./graphs.py:compiled"}})
    )
    await _registry(config).load_all()
    import builtins

    assert getattr(builtins, marker) == 1
    delattr(builtins, marker)
