"""Spans, read back from an in-memory exporter: one request's whole tree::

POST /threads/{thread_id}/runs/wait     (SERVER, child of the caller's traceparent)
  run
    node route
      router.decide
        llm.call                      (the router's classifier)
    node chat                         (the routed subgraph)
      node respond
        llm.call                      (the chat model; traceparent sent on)
    storage.*                         (the run's status, its checkpoints)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.main import create_app
from app.observability.settings import TraceSettings
from app.observability.setup import Observability
from app.settings import LLMSettings
from tests.conftest import make_settings
from tests.support.openai_server import OpenAIServer, Reply
from tests.support.server import run_server

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"


def _human(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


@pytest.fixture
def traced(tmp_path: Path, openai_server: OpenAIServer) -> list[ReadableSpan]:
    """Spans of one routed, LLM-answered run on a thread, and the LLM's requests."""
    settings = make_settings(
        tmp_path,
        llm=LLMSettings(base_url=openai_server.base_url),
        traces=TraceSettings(enabled=True),
    )
    app = create_app(settings)
    exporter = InMemorySpanExporter()
    observability: Observability = app.state.observability
    observability.tracing.add_exporter(exporter)
    openai_server.script(Reply(content='{"target": "chat", "confidence": 0.9, "reason": "chat"}'))
    with run_server(settings, app=app) as server, httpx.Client(base_url=server.url) as http:
        thread_id = http.post("/threads", json={}).json()["thread_id"]
        answer = http.post(
            f"/threads/{thread_id}/runs/wait",
            json={
                "assistant_id": "auto",
                "input": _human("tell me about tide pools"),
                "config": {"configurable": {"route_strategy": "llm_only"}},
            },
            headers={"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["route"]["source"] == "llm:default"
    return _finished_tree(exporter)


def _finished_tree(exporter: InMemorySpanExporter, timeout_s: float = 10.0) -> list[ReadableSpan]:
    """The spans of the caller's trace, once its root (the HTTP span, which ends
    after the response's last byte was handed to the server) has ended too."""
    deadline = time.monotonic() + timeout_s
    while True:
        spans = [
            s
            for s in exporter.get_finished_spans()
            if s.context is not None and s.context.trace_id == int(TRACE_ID, 16)
        ]
        if any(s.parent is not None and s.parent.span_id == int(CALLER_SPAN, 16) for s in spans):
            return spans
        assert time.monotonic() < deadline, [s.name for s in spans]
        time.sleep(0.02)


def _one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, (name, [s.name for s in spans])
    return found[0]


def _parent(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.span_id)


def test_trace_when_one_request_then_span_tree_with_parent_links(
    traced: list[ReadableSpan], openai_server: OpenAIServer
) -> None:
    spans = traced
    http = _one(spans, "POST /threads/{thread_id}/runs/wait")
    assert _parent(http) == int(CALLER_SPAN, 16)
    assert http.attributes is not None
    assert http.attributes["http.response.status_code"] == 200
    run = _one(spans, "run")
    assert _parent(run) == _id(http)
    route = _one(spans, "node route")
    assert _parent(route) == _id(run)
    decide = _one(spans, "router.decide")
    assert _parent(decide) == _id(route)
    assert decide.attributes is not None
    assert decide.attributes["router.source"] == "llm:default"
    chat = _one(spans, "node chat")
    assert _parent(chat) == _id(run)
    respond = _one(spans, "node respond")
    assert _parent(respond) == _id(chat)
    llm_calls = [s for s in spans if s.name == "llm.call"]
    assert sorted(_parent(s) or 0 for s in llm_calls) == sorted([_id(decide), _id(respond)])
    storage = [s for s in spans if s.name.startswith("storage.")]
    assert any(_parent(s) == _id(run) for s in storage)
    assert any(s.name == "storage.runs.set_status" for s in storage)
    # Each LLM request carried its own span as the W3C parent.
    sent = [h["traceparent"] for h in openai_server.headers]
    assert sorted(sent) == sorted(f"00-{TRACE_ID}-{_id(s):016x}-01" for s in llm_calls)


def test_trace_when_off_then_incoming_traceparent_passed_on_to_llm(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    settings = make_settings(tmp_path, llm=LLMSettings(base_url=openai_server.base_url))
    traceparent = f"00-{TRACE_ID}-{CALLER_SPAN}-01"
    with run_server(settings) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        answer = http.post(
            "/runs/wait",
            json={"assistant_id": "chat", "input": _human("hi")},
            headers={"traceparent": traceparent},
        )
        assert answer.status_code == 200
    assert [h["traceparent"] for h in openai_server.headers] == [traceparent]
