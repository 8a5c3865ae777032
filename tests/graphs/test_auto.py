"""The auto graph: route event first, then the chosen subgraph under its namespace.

Two tiny graphs of this module (``echo`` and ``shout``) and ``auto`` itself
are loaded through the real ``GraphRegistry``, the way the server loads them.
"""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.config import get_stream_writer
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.pregel import Pregel

from graphs.registry import GraphRegistry, GraphSpec
from routers import HybridRouter, RouterSettings, UnknownStrategy, build_router

GRAPHS = {"echo": "Repeats what was said.", "shout": "Answers loud requests in capitals."}
RULES = """
rules:
  - id: loud
    target: shout
    confidence: 0.9
    match: {keywords: [shout, 大声], regex: 'shout (?P<word>\\w+)'}
  - id: happy
    target: shout
    match: {condition: "sentiment_score > 0.7"}
  - id: sticky
    target: shout
    match: {condition: "previous_target == 'shout' and text =~ '^again'"}
"""


def _last_text(state: MessagesState) -> str:
    return state["messages"][-1].text


def build_echo() -> StateGraph[MessagesState, Any, MessagesState, MessagesState]:
    def reply(state: MessagesState) -> dict[str, Any]:
        get_stream_writer()({"type": "echo"})
        return {"messages": [AIMessage(f"echo: {_last_text(state)}")]}

    builder = StateGraph(MessagesState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    return builder


def build_shout() -> StateGraph[MessagesState, Any, MessagesState, MessagesState]:
    def upper(state: MessagesState) -> dict[str, Any]:
        get_stream_writer()({"type": "shouting"})
        return {"messages": [AIMessage(_last_text(state).upper())]}

    builder = StateGraph(MessagesState)
    builder.add_node("upper", upper)
    builder.add_edge(START, "upper")
    return builder


@pytest.fixture
async def router(tmp_path: Path) -> AsyncIterator[HybridRouter]:
    (tmp_path / "10.yaml").write_text(textwrap.dedent(RULES), encoding="utf-8")
    settings = RouterSettings(rules_dir=tmp_path, fallback_target="echo")
    router = build_router(settings, GRAPHS)
    yield router
    await router.aclose()


@pytest.fixture
def registry(router: HybridRouter) -> GraphRegistry:
    here = Path(__file__)
    specs = [
        GraphSpec(gid, f"tests.graphs.test_auto:build_{gid}", here, d) for gid, d in GRAPHS.items()
    ]
    specs.append(GraphSpec("auto", "graphs.auto:build_auto", here, "Routes to the others."))
    return GraphRegistry(specs, checkpointer=InMemorySaver(), deps={"router": router})


def _thread(thread_id: str = "t1", **configurable: Any) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, **configurable}}


async def _events(
    graph: Pregel[Any, Any, Any, Any],
    text: str,
    config: RunnableConfig,
    *,
    extra_input: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
) -> list[Any]:
    stream = graph.astream(
        {"messages": [HumanMessage(text)], **(extra_input or {})},
        config,
        context=context,
        stream_mode=["custom", "updates"],
        subgraphs=True,
    )
    return [event async for event in stream]


async def test_auto_when_rule_matches_then_route_event_precedes_subgraph_events(
    registry: GraphRegistry,
) -> None:
    auto = await registry.get("auto")
    events = await _events(auto, "shout hello", _thread())

    namespace, mode, route = events[0]
    assert (namespace, mode) == ((), "custom")
    assert route["type"] == "route"
    assert (route["target"], route["source"]) == ("shout", "rule:loud")
    assert route["params"] == {"word": "hello"}
    assert route["candidates"][0] == {"target": "shout", "source": "rule:loud", "score": 0.9}
    assert route["latency_ms"] > 0

    inner = [(ns, mode, data) for ns, mode, data in events if ns]
    assert inner
    assert all(ns[0].startswith("shout:") for ns, _, _ in inner)
    assert inner[0][1:] == ("custom", {"type": "shouting"})
    first_inner = events.index(inner[0])
    assert all(not ns for ns, _, _ in events[:first_inner])  # nothing of the subgraph before

    state = (await auto.aget_state(_thread())).values
    assert state["messages"][-1].content == "SHOUT HELLO"
    assert state["route"]["target"] == "shout"
    assert state["route"]["source"] == "rule:loud"
    assert [r["target"] for r in state["routes"]] == ["shout"]


async def test_auto_when_several_turns_then_history_keeps_every_decision(
    registry: GraphRegistry,
) -> None:
    auto = await registry.get("auto")
    await _events(auto, "shout hi", _thread())
    await _events(auto, "again please", _thread())  # sticky: previous target was shout
    events = await _events(auto, "how are you", _thread())

    assert events[0][2]["source"] == "fallback"
    assert {ns[0].split(":")[0] for ns, _, _ in events if ns} == {"echo"}
    state = (await auto.aget_state(_thread())).values
    assert [(r["target"], r["source"]) for r in state["routes"]] == [
        ("shout", "rule:loud"),
        ("shout", "rule:sticky"),
        ("echo", "fallback"),
    ]
    assert [m.content for m in state["messages"]] == [
        "shout hi",
        "SHOUT HI",
        "again please",
        "AGAIN PLEASE",
        "how are you",
        "echo: how are you",
    ]


async def test_auto_when_context_given_then_conditions_see_it(registry: GraphRegistry) -> None:
    auto = await registry.get("auto")
    by_input = await _events(
        auto, "hello", _thread("a"), extra_input={"route_context": {"sentiment_score": 0.9}}
    )
    by_run_context = await _events(auto, "hello", _thread("b"), context={"sentiment_score": 0.9})
    neither = await _events(auto, "hello", _thread("c"))
    assert by_input[0][2]["source"] == "rule:happy"
    assert by_run_context[0][2]["source"] == "rule:happy"
    assert neither[0][2]["source"] == "fallback"


async def test_auto_when_route_strategy_configured_then_router_uses_it(
    registry: GraphRegistry,
) -> None:
    auto = await registry.get("auto")
    await _events(auto, "shout x", _thread(route_strategy="llm_only"))
    state = (await auto.aget_state(_thread())).values
    assert state["route"]["strategy"] == "llm_only"
    assert "LLM tier not configured" in state["route"]["reason"]
    with pytest.raises(UnknownStrategy, match="coin_flip"):
        await _events(auto, "shout x", _thread("z", route_strategy="coin_flip"))


async def test_auto_when_run_many_times_then_subgraphs_are_compiled_once_and_reused(
    registry: GraphRegistry,
) -> None:
    auto = await registry.get("auto")
    for i in range(3):
        await _events(auto, "shout again", _thread(f"t{i}"))
        await _events(auto, "hello", _thread(f"t{i}"))
    assert registry.compile_count == {"echo": 1, "shout": 1, "auto": 1}
    assert set(auto.nodes) == {"__start__", "route", "echo", "shout"}  # not itself
    embedded = dict(auto.get_subgraphs())
    assert embedded["shout"] is await registry.get_subgraph("shout")
    assert embedded["echo"] is await registry.get_subgraph("echo")


async def test_auto_when_built_in_graphs_and_default_rules_then_publishing_runs_content(
    tmp_path: Path,
) -> None:
    from graphs.models import OfflineChatModel

    registry = GraphRegistry.from_config_files(
        [GraphRegistry.builtin_config()],
        checkpointer=InMemorySaver(),
        deps={"model": OfflineChatModel(), "outbox": tmp_path},
    )
    targets = {gid: registry.description(gid) for gid in registry.ids() if gid != "auto"}
    # default rules/ (with their examples), no LLM
    registry.provide(router=build_router(RouterSettings(watch_rules=False), targets))
    auto = await registry.get("auto")

    published = await _events(auto, "请帮我发布一篇关于猫的文章", _thread("zh"))
    chatted = await _events(auto, "what is a cat?", _thread("en"))

    assert (published[0][2]["target"], published[0][2]["source"]) == ("content", "rule:publish-zh")
    assert {ns[0].split(":")[0] for ns, _, _ in published if ns} == {"content"}
    # The shipped chat examples decide it (the semantic tier); no rule keyword is there.
    assert (chatted[0][2]["target"], chatted[0][2]["source"]) == (
        "chat",
        "semantic:use-multilingual",
    )
    assert {ns[0].split(":")[0] for ns, _, _ in chatted if ns} == {"chat"}
    state = (await auto.aget_state(_thread("zh"))).values
    assert state["messages"][-1].content.startswith("Published")  # the pipeline ran to the end
