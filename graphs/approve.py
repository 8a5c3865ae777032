"""Approve: drafts a short post with the LLM, then waits for a human to approve it.

``draft -> review (interrupt) -> decide``. The topic is the ``topic`` input,
else the last human message. ``review`` stops the run with an interrupt
whose value is ``{"question": ..., "draft": ...}``; the thread waits until a
run resumes it with ``Command(resume=...)``: ``True`` (or ``"yes"``)
approves and the draft becomes ``published``, anything else discards it.
Either way the decision is appended to ``messages`` as an AI message.

It is the human-in-the-loop example the README runs as written: nothing
leaves the process (``content`` is the graph that writes publish records).
"""

from __future__ import annotations

from typing import Any, NotRequired

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.types import interrupt

from graphs.models import DRAFT_PROMPT_PREFIX

__all__ = ["ApproveState", "build_approve"]


class ApproveState(MessagesState):
    """``{"topic": ...}`` or ``{"messages": [...]}`` in; ``draft``, ``approved``
    and ``published`` (the draft, once approved) out."""

    topic: NotRequired[str]
    draft: NotRequired[str]
    approved: NotRequired[bool]
    published: NotRequired[str]


def _topic_of(state: ApproveState) -> str:
    if topic := (state.get("topic") or "").strip():
        return topic
    for message in reversed(state.get("messages", [])):
        if isinstance(message, HumanMessage) and message.text.strip():
            return message.text.strip()
    raise ValueError("approve needs a topic: send `topic` or a human message")


def build_approve(
    model: BaseChatModel,
) -> StateGraph[ApproveState, Any, ApproveState, ApproveState]:
    """The three-node approval graph; ``model`` writes the draft (tokens stream)."""

    async def draft(state: ApproveState) -> dict[str, Any]:
        reply = await model.ainvoke([HumanMessage(f"{DRAFT_PROMPT_PREFIX} {_topic_of(state)}")])
        return {"draft": reply.text.strip()}

    def review(state: ApproveState) -> dict[str, Any]:
        answer = interrupt({"question": "Publish this draft?", "draft": state["draft"]})
        return {"approved": answer is True or answer == "yes"}

    def decide(state: ApproveState) -> dict[str, Any]:
        if state.get("approved"):
            message = AIMessage(f"Published: {state['draft']}", name="approve")
            return {"published": state["draft"], "messages": [message]}
        return {"messages": [AIMessage("Discarded the draft.", name="approve")]}

    builder = StateGraph(ApproveState)
    builder.add_node("draft", draft)
    builder.add_node("review", review)
    builder.add_node("decide", decide)
    builder.add_edge(START, "draft")
    builder.add_edge("draft", "review")
    builder.add_edge("review", "decide")
    return builder
