"""The LLM tier through the real ChatOpenAI client, over HTTP, against a local server.

Providers are told apart by model name: every request body records it.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from routers.base import RouteRequest, Turn
from routers.llm import LLMClassifier, Provider
from tests.routers.conftest import TARGETS
from tests.support.openai_server import OpenAIServer, Reply


def _provider(server: OpenAIServer, name: str) -> Provider:
    return Provider(name=name, base_url=server.base_url, model=f"model-{name}")


@asynccontextmanager
async def _classifier(
    server: OpenAIServer, *names: str, fallback: str | None = None, **options: Any
) -> AsyncIterator[LLMClassifier]:
    options = {"timeout_s": 5.0, "max_retries": 2, "backoff_s": 0.01, **options}
    classifier = LLMClassifier(
        [_provider(server, n) for n in names],
        TARGETS,
        fallback=_provider(server, fallback) if fallback else None,
        **options,
    )
    try:
        yield classifier
    finally:
        await classifier.aclose()


def _answer(target: str, confidence: float = 0.8, reason: str = "because") -> Reply:
    return Reply(content=json.dumps({"target": target, "confidence": confidence, "reason": reason}))


def _models(server: OpenAIServer) -> list[str]:
    return [body["model"] for body in server.requests]


REQUEST = RouteRequest(text="please publish my post", context={"user": "ana"}, tags=["vip"])


async def test_classify_when_model_answers_then_decision_is_its_target(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(_answer("content", 0.85, "a publishing request"))
    async with _classifier(openai_server, "main") as llm:
        outcome = await llm.classify(REQUEST)
    assert outcome.failures == []
    assert outcome.decision is not None
    assert (outcome.decision.target, outcome.decision.source) == ("content", "llm:main")
    assert outcome.decision.confidence == 0.85
    assert "a publishing request" in outcome.decision.reason


async def test_classify_when_called_then_schema_admits_only_registered_targets(
    openai_server: OpenAIServer,
) -> None:
    history = [Turn(role="human", content=f"turn-{i}") for i in range(7)]
    request = RouteRequest(text="route me", messages=history, context={"plan": "gold"})
    async with _classifier(openai_server, "main") as llm:
        await llm.classify(request)
    body = openai_server.requests[0]
    schema = body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["target"]["enum"] == list(TARGETS)
    prompt = "\n".join(m["content"] for m in body["messages"])
    for graph_id, description in TARGETS.items():
        assert f"- {graph_id}: {description}" in prompt
    assert "turn-1" not in prompt  # only the last five messages
    assert all(f"turn-{i}" in prompt for i in range(2, 7))
    assert '"plan": "gold"' in prompt
    assert "route me" in prompt


async def test_classify_when_rate_limited_once_then_retries_and_succeeds(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(Reply(status=429), _answer("support"))
    async with _classifier(openai_server, "main", "spare") as llm:
        outcome = await llm.classify(REQUEST)
    assert outcome.decision is not None
    assert outcome.decision.source == "llm:main"
    assert outcome.decision.target == "support"
    assert _models(openai_server) == ["model-main", "model-main"]


async def test_classify_when_first_provider_keeps_failing_then_fallback_provider_answers(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(Reply(status=503), Reply(status=500), _answer("content"))
    async with _classifier(openai_server, "main", fallback="backup", max_retries=1) as llm:
        outcome = await llm.classify(REQUEST)
    assert outcome.decision is not None
    assert outcome.decision.source == "llm:backup"
    assert _models(openai_server) == ["model-main", "model-main", "model-backup"]
    assert outcome.failures == ["main: HTTP 500 (OpenAIAPIError) after 2 attempt(s)"]


async def test_classify_when_client_error_then_next_provider_without_retry(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(Reply(status=400), _answer("chat"))
    async with _classifier(openai_server, "main", "spare") as llm:
        outcome = await llm.classify(REQUEST)
    assert outcome.decision is not None
    assert outcome.decision.source == "llm:spare"
    assert _models(openai_server) == ["model-main", "model-spare"]


async def test_classify_when_output_is_outside_the_schema_then_no_decision(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(_answer("billing"), Reply(content="not json at all"), _answer("chat", 7))
    async with _classifier(openai_server, "a", "b", fallback="c") as llm:
        outcome = await llm.classify(REQUEST)
    assert outcome.decision is None
    assert _models(openai_server) == ["model-a", "model-b", "model-c"]  # never retried
    assert [f.split(":")[0] for f in outcome.failures] == ["a", "b", "c"]
    assert all("answer outside the schema" in f for f in outcome.failures)


async def test_classify_when_provider_is_slower_than_timeout_then_gives_up_in_time(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(Reply(delay_s=30, content="late"), Reply(delay_s=30, content="late"))
    started = time.perf_counter()
    async with _classifier(openai_server, "slow", timeout_s=0.2, max_retries=1) as llm:
        outcome = await llm.classify(REQUEST)
    elapsed = time.perf_counter() - started
    assert outcome.decision is None
    assert len(openai_server.requests) == 2  # the timeout was retried once
    assert outcome.failures[0].startswith("slow: timed out")
    assert elapsed < 5  # two 0.2 s attempts, nowhere near the 30 s the server would take


async def test_classify_when_rotating_then_each_call_starts_at_the_next_provider(
    openai_server: OpenAIServer,
) -> None:
    async with _classifier(openai_server, "a", "b", "c") as llm:
        for _ in range(4):
            await llm.classify(REQUEST, rotate=True)
        await llm.classify(REQUEST)
    assert _models(openai_server) == ["model-a", "model-b", "model-c", "model-a", "model-a"]
