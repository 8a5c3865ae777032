"""Content: drafts a short post with the LLM, renders an image, publishes it.

``draft -> images -> publish``. The topic is the ``topic`` input, else the
last human message. Images and platforms are pluggable adapters
(:class:`ImageAdapter`, :class:`PublishAdapter`); the built-in ones write
real files into an outbox directory:

* ``<outbox>/images/<post_id>.svg`` — a rendered card with title and text;
* ``<outbox>/<platform>/<post_id>.json`` — one publish record per platform.

The run ends with ``images`` (paths), ``published`` (records) and an AI
message summarising what was published appended to ``messages``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NotRequired

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.graph import START, MessagesState, StateGraph

from graphs.models import DRAFT_PROMPT_PREFIX
from graphs.publishing import (
    ImageAdapter,
    OutboxPublisher,
    Post,
    PublishAdapter,
    PublishRecord,
    SvgCardRenderer,
)

__all__ = [
    "DEFAULT_PLATFORMS",
    "ContentState",
    "ImageAdapter",
    "Post",
    "PublishAdapter",
    "PublishRecord",
    "build_content",
]

DEFAULT_PLATFORMS = ("blog",)
_DRAFT_SYSTEM_PROMPT = (
    "You write short, concrete posts for a blog and social media: two to four "
    "sentences, no preamble, at most one hashtag."
)
# Channel names a request may use for a platform (rules/10-publishing.yaml).
_CHANNEL_ALIASES = {"微博": "weibo", "微信": "wechat", "公众号": "wechat", "博客": "blog"}
_PLATFORM_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


class ContentState(MessagesState):
    """Inputs ``topic``/``platforms`` are optional; ``{"messages": [...]}`` suffices.
    ``channel`` (one platform, as the router's ``publish-channel`` rule extracts
    it, e.g. "Twitter" or "微博") is used when ``platforms`` is not given."""

    topic: NotRequired[str]
    platforms: NotRequired[list[str]]
    channel: NotRequired[str]
    post: NotRequired[dict[str, str]]
    images: NotRequired[list[str]]
    published: NotRequired[list[PublishRecord]]


def _topic_of(state: ContentState) -> str:
    if topic := (state.get("topic") or "").strip():
        return topic
    for message in reversed(state["messages"]):
        if isinstance(message, HumanMessage) and message.text.strip():
            return message.text.strip()
    raise ValueError("content needs a topic: send `topic` or a human message")


def _title_of(topic: str) -> str:
    title = topic.rstrip(".!? ")
    title = title[:1].upper() + title[1:]
    return title if len(title) <= 80 else title[:77].rstrip() + "..."


def _platforms_of(state: ContentState) -> list[str]:
    channel = (state.get("channel") or "").strip().lower()
    named = [_CHANNEL_ALIASES.get(channel, channel)] if channel else []
    platforms = list(dict.fromkeys(state.get("platforms") or named or DEFAULT_PLATFORMS))
    for platform in platforms:
        # Platform names become directory names: refuse anything path-like.
        if not _PLATFORM_NAME.match(platform):
            raise ValueError(f"invalid platform name {platform!r}: use [a-z0-9_-], max 32")
    return platforms


def _summary(post: Post, images: Sequence[str], records: Sequence[PublishRecord]) -> str:
    where = ", ".join(record["platform"] for record in records)
    lines = [f'Published "{post.title}" to {where}.', "", post.body, ""]
    lines += [f"- image: {image}" for image in images]
    lines += [f"- {record['platform']}: {record['location']}" for record in records]
    return "\n".join(lines)


def build_content(
    model: BaseChatModel,
    outbox: Path,
    image_adapter: ImageAdapter | None = None,
    publishers: Mapping[str, PublishAdapter] | None = None,
) -> StateGraph[ContentState, Any, ContentState, ContentState]:
    """The publishing pipeline. ``publishers`` maps platform names to adapters;
    platforms it does not name are published into ``outbox`` as JSON records.
    """
    renderer: ImageAdapter = image_adapter or SvgCardRenderer(outbox / "images")
    chosen: Mapping[str, PublishAdapter] = publishers or {}

    async def draft(state: ContentState) -> dict[str, Any]:
        _platforms_of(state)  # refuse bad input before spending an LLM call
        topic = _topic_of(state)
        reply = await model.ainvoke(
            [
                SystemMessage(_DRAFT_SYSTEM_PROMPT),
                HumanMessage(f"{DRAFT_PROMPT_PREFIX} {topic}"),
            ]
        )
        post = Post(uuid.uuid4().hex[:12], topic, _title_of(topic), reply.text.strip())
        return {"post": {k: getattr(post, k) for k in ("post_id", "topic", "title", "body")}}

    # Sync nodes: LangGraph runs them in a worker thread, so file writes
    # never block the event loop that streams other runs.
    def images(state: ContentState) -> dict[str, Any]:
        post = Post(**state["post"])
        return {"images": [str(renderer.render(post))]}

    def publish(state: ContentState) -> dict[str, Any]:
        post = Post(**state["post"])
        image_paths = [Path(image) for image in state.get("images", [])]
        records = [
            chosen.get(platform, OutboxPublisher(outbox, platform)).publish(post, image_paths)
            for platform in _platforms_of(state)
        ]
        summary = _summary(post, state.get("images", []), records)
        return {"published": records, "messages": [AIMessage(summary, name="content")]}

    builder = StateGraph(ContentState)
    builder.add_node("draft", draft)
    builder.add_node("images", images)
    builder.add_node("publish", publish)
    builder.add_edge(START, "draft")
    builder.add_edge("draft", "images")
    builder.add_edge("images", "publish")
    return builder
