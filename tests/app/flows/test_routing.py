"""Flows created, changed or deleted over REST are router targets at once (a real server)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.settings import LLMSettings
from routers.config import RouterSettings
from tests.conftest import make_settings
from tests.support.openai_server import OpenAIServer, Reply
from tests.support.server import RunningServer, run_server


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        yield client


def _human(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def booking(**changes: Any) -> dict[str, Any]:
    flow: dict[str, Any] = {
        "id": "booking",
        "description": "Books restaurant tables.",
        "examples": [
            "book a table for two tonight",
            "reserve a table at a restaurant for friday",
            "I need a dinner reservation for six people",
            "can you get us a table at 8pm",
            "帮我订一张今晚的餐桌",
        ],
        "state": {"messages": {"type": "messages"}, "booked": {"type": "boolean"}},
        "nodes": [{"id": "book", "type": "transform", "config": {"set": {"booked": True}}}],
        "edges": [{"from": "START", "to": "book"}],
    }
    flow.update(changes)
    return flow


async def _route(http: httpx.AsyncClient, text: str) -> dict[str, Any]:
    answer = await http.post("/runs/wait", json={"assistant_id": "auto", "input": _human(text)})
    assert answer.status_code == 200, answer.text
    route: dict[str, Any] = answer.json()["route"]
    return route


REQUEST = "please reserve a table for four at the Italian place tomorrow"


async def test_auto_when_flow_created_over_rest_then_routes_to_it_by_its_examples_at_once(
    http: httpx.AsyncClient,
) -> None:
    before = await _route(http, REQUEST)
    assert before["target"] != "booking"
    assert (await http.post("/flows", json=booking())).status_code == 201

    route = await _route(http, REQUEST)
    assert (route["target"], route["source"]) == ("booking", "semantic:use-multilingual")
    assert "reserve a table" in route["reason"]
    streamed = await http.post(
        "/runs/stream",
        json={
            "assistant_id": "auto",
            "input": _human(REQUEST),
            "stream_mode": "updates",
            "stream_subgraphs": True,
        },
    )
    assert "event: updates|booking:" in streamed.text  # the flow ran, as auto's subgraph
    rules = (await http.get("/rules")).json()
    assert rules["examples"]["booking"] == 5

    # A new version without examples: the semantic tier no longer knows it.
    assert (await http.put("/flows/booking", json=booking(examples=[]))).status_code == 200
    assert (await _route(http, REQUEST))["target"] != "booking"
    await http.put("/flows/booking", json=booking())
    assert (await _route(http, REQUEST))["target"] == "booking"

    assert (await http.delete("/flows/booking")).status_code == 204
    gone = await _route(http, REQUEST)
    assert gone["target"] != "booking"
    assert "booking" not in {c["target"] for c in gone["candidates"]}
    assert "booking" not in (await http.get("/rules")).json()["examples"]


def test_auto_when_flow_created_and_deleted_then_llm_prompt_lists_it_with_its_description(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    settings = make_settings(
        tmp_path,
        llm=LLMSettings(base_url=openai_server.base_url),
        router=RouterSettings(strategy="llm_only"),
    )
    billing = {
        "id": "billing",
        "description": "Answers questions about invoices and refunds.",
        "state": {"messages": {"type": "messages"}},
        "nodes": [{"id": "noop", "type": "transform", "config": {"set": {}}}],
        "edges": [{"from": "START", "to": "noop"}],
    }
    choice = '{"target": "billing", "confidence": 0.9, "reason": "an invoice question"}'
    with run_server(settings) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.post("/flows", json=billing).status_code == 201
        openai_server.script(Reply(content=choice))
        body = {"assistant_id": "auto", "input": _human("where is my refund?")}
        routed = http.post("/runs/wait", json=body).json()["route"]
        assert (routed["target"], routed["source"]) == ("billing", "llm:default")
        asked = _router_request(openai_server)
        assert "- billing: Answers questions about invoices and refunds." in asked["prompt"]
        assert "billing" in asked["targets"]

        assert http.delete("/flows/billing").status_code == 204
        openai_server.script(Reply(content=choice))  # an LLM naming a target that is gone
        after = http.post("/runs/wait", json=body).json()["route"]
        assert after["target"] != "billing"
        asked = _router_request(openai_server)
        assert "billing" not in asked["prompt"]
        assert "billing" not in asked["targets"]


def _router_request(openai_server: OpenAIServer) -> dict[str, Any]:
    """The last classification request: its system prompt and the targets its schema admits."""
    request = next(r for r in reversed(openai_server.requests) if "response_format" in r)
    schema = request["response_format"]["json_schema"]["schema"]
    return {
        "prompt": request["messages"][0]["content"],
        "targets": json.dumps(schema["properties"]["target"]),
    }
