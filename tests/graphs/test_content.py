"""The built-in content pipeline: LLM draft, a real image file, one record per platform."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver

from graphs.content import ContentState, Post, PublishRecord, build_content
from graphs.models import DRAFT_PROMPT_PREFIX, OfflineChatModel, make_chat_model
from tests.support.openai_server import OpenAIServer, Reply


async def _run(
    model: BaseChatModel, outbox: Path, state: ContentState, **adapters: Any
) -> dict[str, Any]:
    graph = build_content(model, outbox, **adapters).compile(checkpointer=InMemorySaver())
    config: RunnableConfig = {"configurable": {"thread_id": str(uuid.uuid4())}}
    result: dict[str, Any] = await graph.ainvoke(state, config)
    return result


def _read_json(path: str) -> Any:
    return json.loads(Path(path).read_text())


def _files(outbox: Path) -> list[str]:
    return sorted(str(p.relative_to(outbox)) for p in outbox.rglob("*") if p.is_file())


async def test_content_when_two_platforms_then_image_and_a_record_each_are_written(
    tmp_path: Path,
) -> None:
    state = ContentState(messages=[HumanMessage("solar sails")], platforms=["blog", "social"])
    result = await _run(OfflineChatModel(), tmp_path, state)

    post_id = result["post"]["post_id"]
    assert _files(tmp_path) == [
        f"blog/{post_id}.json",
        f"images/{post_id}.svg",
        f"social/{post_id}.json",
    ]
    [image] = result["images"]
    svg = ET.parse(image).getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert "Solar sails" in ET.tostring(svg, encoding="unicode")

    assert [r["platform"] for r in result["published"]] == ["blog", "social"]
    for record in result["published"]:
        written = _read_json(record["location"])
        assert written["images"] == [image]
        assert written["post"]["body"] == result["post"]["body"]
    summary = result["messages"][-1]
    assert isinstance(summary, AIMessage)
    assert summary.text.startswith('Published "Solar sails" to blog, social.')


async def test_content_when_llm_configured_then_post_body_is_the_llm_draft(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    openai_server.script(Reply(content="Tea is a leaf. Brew it well. #tea"))
    model = make_chat_model(
        base_url=openai_server.base_url, api_key="k", model="m", timeout_s=5, max_retries=0
    )
    result = await _run(model, tmp_path, ContentState(messages=[], topic="green tea"))

    assert result["post"]["body"] == "Tea is a leaf. Brew it well. #tea"
    prompt = openai_server.requests[0]["messages"][-1]["content"]
    assert prompt == f"{DRAFT_PROMPT_PREFIX} green tea"
    [record] = result["published"]
    assert _read_json(record["location"])["post"]["body"] == ("Tea is a leaf. Brew it well. #tea")


async def test_content_when_only_messages_given_then_blog_is_the_default_platform(
    tmp_path: Path,
) -> None:
    result = await _run(OfflineChatModel(), tmp_path, ContentState(messages=[HumanMessage("x")]))
    assert [r["platform"] for r in result["published"]] == ["blog"]
    assert result["post"]["topic"] == "x"


async def test_content_when_platform_name_is_path_like_then_refused_before_any_work(
    tmp_path: Path, openai_server: OpenAIServer
) -> None:
    model = make_chat_model(
        base_url=openai_server.base_url, api_key="k", model="m", timeout_s=5, max_retries=0
    )
    state = ContentState(messages=[HumanMessage("x")], platforms=["../../etc"])
    with pytest.raises(ValueError, match="invalid platform name"):
        await _run(model, tmp_path, state)
    assert openai_server.requests == []
    assert _files(tmp_path) == []


async def test_content_when_no_topic_and_no_human_message_then_clear_error(
    tmp_path: Path,
) -> None:
    with pytest.raises(ValueError, match="content needs a topic"):
        await _run(OfflineChatModel(), tmp_path, ContentState(messages=[]))


class _Wall:
    """A publish adapter that pins posts to an in-memory wall."""

    def __init__(self) -> None:
        self.posts: list[tuple[Post, list[Path]]] = []

    def publish(self, post: Post, images: Sequence[Path]) -> PublishRecord:
        self.posts.append((post, list(images)))
        return PublishRecord(
            platform="wall",
            post_id=post.post_id,
            title=post.title,
            location=f"wall://{post.post_id}",
            images=[str(i) for i in images],
            published_at="now",
        )


class _FixedImage:
    def __init__(self, path: Path) -> None:
        self.path = path

    def render(self, post: Post) -> Path:
        self.path.write_text(post.title)
        return self.path


async def test_content_when_adapters_plugged_in_then_they_publish_and_render(
    tmp_path: Path,
) -> None:
    wall, image = _Wall(), _FixedImage(tmp_path / "cover.txt")
    state = ContentState(messages=[HumanMessage("kites")], platforms=["wall", "blog"])
    result = await _run(
        OfflineChatModel(), tmp_path, state, image_adapter=image, publishers={"wall": wall}
    )
    [(post, images)] = wall.posts
    assert post.title == "Kites"
    assert images == [tmp_path / "cover.txt"]
    assert result["published"][0]["location"] == f"wall://{post.post_id}"
    assert Path(result["published"][1]["location"]).parent == tmp_path / "blog"
    assert (tmp_path / "cover.txt").read_text() == "Kites"


async def test_content_when_streamed_in_messages_mode_then_draft_tokens_arrive(
    tmp_path: Path,
) -> None:
    graph = build_content(OfflineChatModel(), tmp_path).compile()
    nodes = []
    async for part in graph.astream(
        ContentState(messages=[HumanMessage("owls")]), stream_mode="messages"
    ):
        _message, metadata = cast(tuple[Any, dict[str, Any]], part)
        nodes.append(metadata["langgraph_node"])
    assert nodes.count("draft") > 3
    assert nodes[-1] == "publish"
