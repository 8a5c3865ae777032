"""The built-in chat graph: one model call, tokens streamed in `messages` mode."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, cast

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver

from graphs.chat import ChatState, build_chat
from graphs.models import OfflineChatModel, make_chat_model
from graphs.registry import GraphRegistry
from routers.config import RouterSettings, build_router
from tests.support.openai_server import OpenAIServer, Reply


async def _stream_tokens(model: BaseChatModel, text: str, config: RunnableConfig) -> list[str]:
    graph = build_chat(model).compile(checkpointer=InMemorySaver())
    tokens: list[str] = []
    async for part in graph.astream(_ask(text), config, stream_mode="messages"):
        # In "messages" mode every part is a (message chunk, metadata) pair.
        message, metadata = cast(tuple[BaseMessage, dict[str, Any]], part)
        if isinstance(message, AIMessageChunk) and message.text:
            assert metadata["langgraph_node"] == "respond"
            tokens.append(str(message.text))
    return tokens


def _ask(text: str) -> ChatState:
    return ChatState(messages=[HumanMessage(text)])


def _thread() -> RunnableConfig:
    return {"configurable": {"thread_id": str(uuid.uuid4())}}


async def test_chat_when_offline_then_tokens_stream_one_word_at_a_time() -> None:
    tokens = await _stream_tokens(OfflineChatModel(), "tell me more", _thread())
    assert tokens == ["[offline] ", "You ", "said: ", "tell ", "me ", "more"]


async def test_chat_when_local_server_then_tokens_stream_over_http(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(Reply(content="streamed from the server"))
    model = make_chat_model(
        base_url=openai_server.base_url,
        api_key="k",
        model="test-model",
        timeout_s=5,
        max_retries=0,
    )
    tokens = await _stream_tokens(model, "hi", _thread())
    assert tokens == ["streamed ", "from ", "the ", "server"]
    assert openai_server.requests[0]["stream"] is True


async def test_chat_when_second_turn_on_same_thread_then_model_sees_whole_conversation(
    openai_server: OpenAIServer,
) -> None:
    model = make_chat_model(
        base_url=openai_server.base_url, api_key="k", model="m", timeout_s=5, max_retries=0
    )
    graph = build_chat(model).compile(checkpointer=InMemorySaver())
    config = _thread()
    await graph.ainvoke(_ask("first"), config)
    state: dict[str, Any] = await graph.ainvoke(_ask("second"), config)
    roles = [m["role"] for m in openai_server.requests[1]["messages"]]
    assert roles == ["user", "assistant", "user"]
    assert [m.text for m in state["messages"]] == ["first", "first", "second", "second"]


async def test_builtin_config_when_loaded_then_chat_and_content_compile(tmp_path: Path) -> None:
    registry = GraphRegistry.from_config_files(
        [GraphRegistry.builtin_config()],
        checkpointer=InMemorySaver(),
        deps={"model": OfflineChatModel(), "outbox": tmp_path},
    )
    targets = {gid: registry.description(gid) for gid in registry.ids() if gid != "auto"}
    registry.provide(router=build_router(RouterSettings(), targets))
    await registry.load_all()
    assert registry.ids() == ["chat", "content", "approve", "auto"]
    assert registry.failed == {}
    assert "conversation" in registry.description("chat")
    assert "publish" in registry.description("content")
    reply = await (await registry.get("chat")).ainvoke(_ask("x"), _thread())
    assert reply["messages"][-1].text == "[offline] You said: x"
