"""The `auto` graph through the server: route event first, then the subgraph."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from app.settings import LLMSettings
from routers.config import DEFAULT_RULES_DIR, RouterSettings
from tests.conftest import make_settings
from tests.support.openai_server import OpenAIServer, Reply
from tests.support.server import RunningServer, run_server


@pytest.fixture
async def sdk(server: RunningServer) -> AsyncIterator[LangGraphClient]:
    client = get_client(url=server.url)
    yield client
    await client.aclose()


def _human(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


async def test_auto_when_publishing_request_then_route_event_precedes_content_subgraph(
    sdk: LangGraphClient,
) -> None:
    thread = await sdk.threads.create()
    parts = [
        part
        async for part in sdk.runs.stream(
            thread["thread_id"],
            "auto",
            input=_human("Please publish a post about tide pools"),
            stream_mode=["custom", "updates"],
            stream_subgraphs=True,
        )
    ]
    routes = [i for i, p in enumerate(parts) if p.event == "custom" and p.data["type"] == "route"]
    subgraph = [i for i, p in enumerate(parts) if p.event.startswith("updates|content:")]
    assert len(routes) == 1
    assert subgraph
    assert routes[0] < subgraph[0]
    decision = parts[routes[0]].data
    assert decision["target"] == "content"
    assert decision["source"].startswith("rule:publish")
    assert decision["reason"]
    assert decision["candidates"]
    assert decision["latency_ms"] >= 0
    state = await sdk.threads.get_state(thread["thread_id"])
    values = state["values"]
    assert isinstance(values, dict)
    assert values["route"]["target"] == "content"
    assert [r["target"] for r in values["routes"]] == ["content"]


async def test_auto_when_chinese_chat_turn_then_history_keeps_every_decision(
    sdk: LangGraphClient,
) -> None:
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    await sdk.runs.wait(tid, "auto", input=_human("请帮我发布一篇关于茶的文章"))
    await sdk.runs.wait(tid, "auto", input=_human("what is a cat?"))
    state = await sdk.threads.get_state(tid)
    values = state["values"]
    assert isinstance(values, dict)
    assert [r["target"] for r in values["routes"]] == ["content", "chat"]
    assert values["routes"][1]["source"] == "semantic:use-multilingual"  # rules/90-chat.yaml


def test_rules_reload_when_bad_file_then_422_and_old_rules_keep_serving(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules)
    settings = make_settings(tmp_path, router=RouterSettings(rules_dir=rules))
    with run_server(settings) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        good = http.post("/rules/reload")
        assert good.status_code == 200
        version = good.json()["version"]
        (rules / "20-bad.yaml").write_text("rules:\n  - id: broken\n    target: nowhere\n")
        bad = http.post("/rules/reload")
        assert bad.status_code == 422
        assert "20-bad.yaml" in bad.json()["detail"]
        assert "broken" in bad.json()["detail"]
        body = {"assistant_id": "auto", "input": _human("publish this"), "stream_mode": "custom"}
        routed = http.post("/runs/wait", json=body).json()
        assert routed["route"]["target"] == "content"
        (rules / "20-bad.yaml").write_text(
            "rules:\n  - id: cats\n    target: steps\n    priority: 500\n"
            "    match:\n      keywords: [cat]\n"
        )
        fixed = http.post("/rules/reload")
        assert fixed.status_code == 200
        assert fixed.json()["version"] > version
        cat = http.post("/runs/wait", json={**body, "input": _human("a cat")}).json()
        assert cat["route"]["target"] == "steps"


def test_auto_when_llm_strategy_then_classifier_called_over_http(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    settings = make_settings(
        tmp_path,
        llm=LLMSettings(base_url=openai_server.base_url),
        router=RouterSettings(strategy="llm_first"),
    )
    openai_server.script(
        Reply(content='{"target": "steps", "confidence": 0.8, "reason": "wants steps"}'),
        Reply(content='{"target": "steps", "confidence": 0.8, "reason": "wants steps"}'),
    )
    with run_server(settings) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        body = {"assistant_id": "auto", "input": _human("do the steps")}
        result = http.post("/runs/wait", json=body).json()
        streamed = http.post(
            "/runs/stream", json={**body, "stream_mode": "updates", "stream_subgraphs": True}
        ).text
    assert result["route"]["target"] == "steps"
    assert result["route"]["source"] == "llm:default"
    assert "event: updates|steps:" in streamed
    assert any("do the steps" in str(r) for r in openai_server.requests)


async def test_auto_when_request_names_channel_then_params_reach_content_and_event_has_strategy(
    sdk: LangGraphClient,
) -> None:
    thread = await sdk.threads.create()
    parts = [
        part
        async for part in sdk.runs.stream(
            thread["thread_id"],
            "auto",
            input=_human("Please publish a post about tide pools to twitter"),
            stream_mode=["custom", "values"],
        )
    ]
    route = next(p.data for p in parts if p.event == "custom" and p.data.get("type") == "route")
    assert route["params"] == {"channel": "twitter"}
    assert route["strategy"] == "rule_first"
    state = await sdk.threads.get_state(thread["thread_id"])
    values = state["values"]
    assert isinstance(values, dict)
    # content's summary names where it published (its records stay in its own state).
    summary = values["messages"][-1]["content"]
    assert summary.startswith('Published "Please publish a post about tide pools to twitter" to ')
    assert summary.splitlines()[0].endswith(" to twitter.")
