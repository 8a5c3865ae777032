"""The approve graph: a draft, an interrupt for approval, then published or discarded."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from graphs.approve import build_approve
from graphs.models import OfflineChatModel


def _thread() -> RunnableConfig:
    return {"configurable": {"thread_id": str(uuid.uuid4())}}


async def _paused(topic_input: Any) -> tuple[Any, RunnableConfig, dict[str, Any]]:
    graph = build_approve(OfflineChatModel()).compile(checkpointer=InMemorySaver())
    config = _thread()
    paused = await graph.ainvoke(topic_input, config)
    return graph, config, paused


async def test_approve_when_run_then_waits_with_question_and_draft() -> None:
    graph, config, paused = await _paused({"topic": "our new menu"})
    [asked] = paused["__interrupt__"]
    assert asked.value == {"question": "Publish this draft?", "draft": paused["draft"]}
    assert paused["draft"].startswith("[offline] Our new menu")
    assert (await graph.aget_state(config)).next == ("review",)


@pytest.mark.parametrize("answer", [True, "yes"])
async def test_approve_when_approved_then_draft_published(answer: object) -> None:
    graph, config, paused = await _paused({"topic": "our new menu"})
    done = await graph.ainvoke(Command(resume=answer), config)
    assert done["published"] == paused["draft"]
    assert done["messages"][-1].text == f"Published: {paused['draft']}"


async def test_approve_when_refused_then_nothing_published() -> None:
    graph, config, _ = await _paused({"messages": [{"role": "user", "content": "a haiku"}]})
    done = await graph.ainvoke(Command(resume=False), config)
    assert "published" not in done
    assert done["messages"][-1].text == "Discarded the draft."


async def test_approve_when_no_topic_then_error_says_what_to_send() -> None:
    graph = build_approve(OfflineChatModel()).compile(checkpointer=InMemorySaver())
    with pytest.raises(ValueError, match="send `topic` or a human message"):
        await graph.ainvoke({"messages": []}, _thread())
