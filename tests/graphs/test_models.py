"""The model layer: the offline model, and ChatOpenAI with retries over real HTTP."""

from __future__ import annotations

import openai
import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage
from pydantic import BaseModel

from graphs.models import (
    DRAFT_PROMPT_PREFIX,
    OfflineChatModel,
    RetryingChatOpenAI,
    make_chat_model,
    model_label,
)
from tests.support.openai_server import OpenAIServer, Reply


def _online(
    server: OpenAIServer, *, max_retries: int = 3, timeout_s: float = 5.0
) -> RetryingChatOpenAI:
    model = make_chat_model(
        base_url=server.base_url,
        api_key="test",
        model="test-model",
        timeout_s=timeout_s,
        max_retries=max_retries,
        backoff_s=0.001,
    )
    assert isinstance(model, RetryingChatOpenAI)
    return model


class Route(BaseModel):
    target: str
    confidence: float


async def test_offline_when_streamed_then_word_chunks_join_to_the_invoke_reply() -> None:
    model = OfflineChatModel()
    chunks = [chunk async for chunk in model.astream("hello offline world")]
    texts = [c.text for c in chunks if isinstance(c, AIMessageChunk) and c.text]
    assert texts == ["[offline] ", "You ", "said: ", "hello ", "offline ", "world"]
    assert "".join(texts) == (await model.ainvoke("hello offline world")).text


def test_offline_when_sync_stream_then_same_chunks_as_async() -> None:
    model = OfflineChatModel()
    texts = [chunk.text for chunk in model.stream("same words") if chunk.text]
    assert "".join(texts) == "[offline] You said: same words"
    assert len(texts) == 5


def test_offline_when_draft_prompt_then_reply_reads_like_a_post() -> None:
    reply = OfflineChatModel().invoke([HumanMessage(f"{DRAFT_PROMPT_PREFIX} tidal energy")])
    assert reply.text.startswith("[offline] Tidal energy")
    assert "#TidalEnergy" in reply.text
    assert reply.text == OfflineChatModel().invoke(f"{DRAFT_PROMPT_PREFIX} tidal energy").text


def test_make_chat_model_when_no_base_url_then_offline_model() -> None:
    model = make_chat_model(base_url=None, api_key=None, model="x", timeout_s=1, max_retries=0)
    assert isinstance(model, OfflineChatModel)
    assert model_label(model) == "switchyard-offline"


async def test_make_chat_model_when_server_answers_then_reply_over_http(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(Reply(content="hi from HTTP"))
    model = _online(openai_server)
    assert (await model.ainvoke("hello")).text == "hi from HTTP"
    assert openai_server.requests[0]["model"] == "test-model"
    assert model_label(model) == "openai:test-model"
    assert model_label(model.bind_tools([])) == "openai:test-model"


@pytest.mark.parametrize("streaming", [False, True])
async def test_make_chat_model_when_429_then_success_then_retried_once(
    openai_server: OpenAIServer, streaming: bool
) -> None:
    openai_server.script(Reply(status=429), Reply(content="after the limit"))
    model = _online(openai_server)
    if streaming:
        text = "".join([chunk.text async for chunk in model.astream("hi")])
    else:
        text = (await model.ainvoke("hi")).text
    assert text == "after the limit"
    assert len(openai_server.requests) == 2


async def test_make_chat_model_when_500_twice_then_success_then_third_try_answers(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(Reply(status=500), Reply(status=500), Reply(content="third time"))
    assert (await _online(openai_server).ainvoke("hi")).text == "third time"
    assert len(openai_server.requests) == 3


def test_make_chat_model_when_sync_call_sees_503_then_retried(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(Reply(status=503), Reply(content="sync ok"))
    assert _online(openai_server).invoke("hi").text == "sync ok"
    assert "".join(c.text for c in _online(openai_server).stream("echo me")) == "echo me"
    assert len(openai_server.requests) == 3


async def test_make_chat_model_when_errors_outlast_retries_then_last_error_raised(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(*[Reply(status=429)] * 3)
    with pytest.raises(openai.RateLimitError):
        await _online(openai_server, max_retries=2).ainvoke("hi")
    assert len(openai_server.requests) == 3


async def test_make_chat_model_when_bad_request_then_not_retried(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(Reply(status=400))
    with pytest.raises(openai.BadRequestError):
        await _online(openai_server).ainvoke("hi")
    assert len(openai_server.requests) == 1


async def test_make_chat_model_when_first_reply_times_out_then_retried(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(Reply(content="too late", delay_s=5.0), Reply(content="in time"))
    assert (await _online(openai_server, timeout_s=0.3).ainvoke("hi")).text == "in time"
    assert len(openai_server.requests) == 2


async def test_structured_output_when_server_returns_json_schema_reply_then_parsed(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(Reply(status=429), Reply(content='{"target": "chat", "confidence": 0.7}'))
    model = _online(openai_server).with_structured_output(Route)
    assert await model.ainvoke("where to?") == Route(target="chat", confidence=0.7)
    assert openai_server.requests[-1]["response_format"]["type"] == "json_schema"
