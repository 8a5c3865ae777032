"""Chat: one model call over the conversation so far; tokens stream."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.graph import START, MessagesState, StateGraph

__all__ = ["ChatState", "build_chat"]


class ChatState(MessagesState):
    """The conversation; each run appends the model's reply to ``messages``."""


def build_chat(model: BaseChatModel) -> StateGraph[ChatState, Any, ChatState, ChatState]:
    """A single ``respond`` node that answers the conversation with ``model``.

    The node awaits ``ainvoke``; LangGraph's ``messages`` stream mode still
    receives each token, because it listens on the model's callbacks.
    """

    async def respond(state: ChatState) -> dict[str, Any]:
        reply = await model.ainvoke(state["messages"])
        return {"messages": [reply]}

    builder = StateGraph(ChatState)
    builder.add_node("respond", respond)
    builder.add_edge(START, "respond")
    return builder
