"""The local OpenAI-protocol server speaks well enough for the real ChatOpenAI client."""

from __future__ import annotations

import openai
import pytest
from langchain_core.messages import AIMessageChunk
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from tests.support.openai_server import OpenAIServer, Reply, run_openai_server


def _client(server: OpenAIServer, *, streaming: bool = False, timeout: float = 5.0) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=server.base_url,
        api_key="test",
        model="test-model",
        max_retries=0,
        timeout=timeout,
        streaming=streaming,
    )


class Verdict(BaseModel):
    target: str
    confidence: float


async def test_chat_when_nothing_scripted_then_last_user_message_is_echoed(
    openai_server: OpenAIServer,
) -> None:
    reply = await _client(openai_server).ainvoke("hello there")
    assert reply.content == "hello there"
    assert openai_server.requests[0]["messages"][-1]["content"] == "hello there"


async def test_chat_when_streaming_then_scripted_text_arrives_word_by_word(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(Reply(content="one two three"))
    chunks = [c async for c in _client(openai_server, streaming=True).astream("hi")]
    texts = [c.content for c in chunks if isinstance(c, AIMessageChunk) and c.content]
    assert texts == ["one ", "two ", "three"]
    assert openai_server.requests[0]["stream"] is True


@pytest.mark.parametrize("streaming", [False, True])
async def test_chat_when_tool_calls_scripted_then_client_sees_them(
    openai_server: OpenAIServer, streaming: bool
) -> None:
    openai_server.script(Reply(tool_calls=[{"name": "lookup", "arguments": {"q": "x"}}]))

    def lookup(q: str) -> str:
        """Look something up."""
        return q

    model = _client(openai_server, streaming=streaming).bind_tools([lookup])
    reply = await model.ainvoke("find x")
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [("lookup", {"q": "x"})]
    assert openai_server.requests[0]["tools"][0]["function"]["name"] == "lookup"


@pytest.mark.parametrize("method", ["json_schema", "function_calling", "json_mode"])
async def test_structured_output_when_scripted_json_then_parsed_into_model(
    openai_server: OpenAIServer, method: str
) -> None:
    verdict = {"target": "content", "confidence": 0.9}
    if method == "function_calling":
        openai_server.script(Reply(tool_calls=[{"name": "Verdict", "arguments": verdict}]))
    else:
        openai_server.script(Reply(content='{"target": "content", "confidence": 0.9}'))
    model = _client(openai_server).with_structured_output(Verdict, method=method)  # type: ignore[arg-type]
    assert await model.ainvoke("route me") == Verdict(target="content", confidence=0.9)


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
async def test_structured_output_when_nothing_scripted_then_minimal_valid_value(
    openai_server: OpenAIServer, method: str
) -> None:
    model = _client(openai_server).with_structured_output(Verdict, method=method)  # type: ignore[arg-type]
    assert await model.ainvoke("route me") == Verdict(target="route me", confidence=0.0)


async def test_chat_when_status_429_scripted_then_rate_limit_error(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(Reply(status=429))
    with pytest.raises(openai.RateLimitError):
        await _client(openai_server).ainvoke("hi")


async def test_chat_when_reply_slower_than_timeout_then_timeout_error(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(Reply(content="late", delay_s=5.0))
    with pytest.raises(openai.APITimeoutError):
        await _client(openai_server, timeout=0.2).ainvoke("hi")


def test_server_when_context_exits_then_port_is_closed() -> None:
    with run_openai_server() as server:
        base_url = server.base_url
    with pytest.raises(openai.APIConnectionError):
        _client(OpenAIServer(base_url=base_url)).invoke("hi")


def test_reset_when_called_then_script_and_requests_are_forgotten(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(Reply(content="scripted"))
    _client(openai_server).invoke("first")
    openai_server.script(Reply(content="never used"))
    openai_server.reset()
    assert openai_server.requests == []
    assert _client(openai_server).invoke("second").content == "second"
