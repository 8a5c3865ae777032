"""``llm``: one chat-model call with a prompt template; its tokens stream.

The model is the server's (the registry's ``model`` dependency: the
configured OpenAI-compatible endpoint, or the offline model). The call is
awaited with the node's config, so LangGraph's ``messages`` stream mode sees
every token through the model's callbacks, namespaced like any node's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage, convert_to_messages
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, ConfigDict, Field

from graphs.flows.components.base import (
    Component,
    FlowScope,
    NodeContext,
    NodeFunction,
    Problem,
)
from graphs.flows.templates import render

__all__ = ["LLMComponent", "LLMConfig"]


class LLMConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str | None = Field(
        None, description="A human message after the history; {{state.x}} is filled at run time."
    )
    system: str | None = Field(None, description="A system message, first.")
    history: str | None = Field(
        None,
        description="A messages channel sent before the prompt. Default: 'messages' when "
        "there is no prompt, none otherwise.",
    )
    write: str = Field(
        "messages",
        description="Where the reply goes: a messages channel gets "
        "the AI message, any other channel its text.",
    )

    @property
    def history_channel(self) -> str | None:
        return self.history if self.history is not None or self.prompt else "messages"


class LLMComponent(Component):
    name = "llm"
    description = "Calls the server's chat model with a prompt template; tokens stream."
    config_model = LLMConfig

    def writes(self, config: BaseModel) -> Iterable[tuple[tuple[str | int, ...], str]]:
        assert isinstance(config, LLMConfig)
        return [(("write",), config.write)]

    def check(self, config: BaseModel, scope: FlowScope) -> Iterable[Problem]:
        assert isinstance(config, LLMConfig)
        history = config.history_channel
        if history is not None:
            channel = scope.channels.get(history)
            if channel is None or channel.type != "messages":
                yield (
                    ("history",),
                    f"history channel {history!r} must be a declared channel of type messages",
                )

    async def build(self, config: BaseModel, context: NodeContext) -> NodeFunction:
        assert isinstance(config, LLMConfig)
        model: BaseChatModel = context.require("model")
        to_messages = context.channels[config.write].type == "messages"

        async def run(state: dict[str, Any], run_config: RunnableConfig) -> dict[str, Any]:
            messages: list[BaseMessage] = []
            if config.system is not None:
                messages.append(SystemMessage(str(render(config.system, state))))
            if (history := config.history_channel) is not None:
                messages.extend(convert_to_messages(state.get(history) or []))
            if config.prompt is not None:
                messages.append(HumanMessage(str(render(config.prompt, state))))
            reply = await model.ainvoke(messages, run_config)
            return {config.write: [reply] if to_messages else reply.text}

        return run
