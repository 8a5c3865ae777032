"""What the content graph publishes, the adapter contracts, and the built-ins.

``ImageAdapter.render(post) -> Path`` and
``PublishAdapter.publish(post, images) -> PublishRecord`` are the two plug
points. The built-in adapters write real files under an outbox directory:
an SVG card per post and a JSON record per platform. A record's
``location`` is where the post can be found (here: the record file).
"""

from __future__ import annotations

import hashlib
import json
import textwrap
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TypedDict
from xml.sax.saxutils import escape

__all__ = [
    "ImageAdapter",
    "OutboxPublisher",
    "Post",
    "PublishAdapter",
    "PublishRecord",
    "SvgCardRenderer",
]


@dataclass(frozen=True)
class Post:
    """A drafted post; ``post_id`` is unique per run and names its files."""

    post_id: str
    topic: str
    title: str
    body: str


class PublishRecord(TypedDict):
    platform: str
    post_id: str
    title: str
    location: str
    images: list[str]
    published_at: str


class ImageAdapter(Protocol):
    def render(self, post: Post) -> Path:
        """Render an image for ``post``; return the file written."""
        ...


class PublishAdapter(Protocol):
    def publish(self, post: Post, images: Sequence[Path]) -> PublishRecord:
        """Publish ``post`` with ``images``; say where it went."""
        ...


_WIDTH, _HEIGHT = 1200, 630


def _accent(topic: str) -> str:
    # A stable colour per topic, so the same topic always looks the same.
    hue = int(hashlib.sha256(topic.encode()).hexdigest()[:4], 16) % 360
    return f"hsl({hue}, 55%, 38%)"


@dataclass(frozen=True)
class SvgCardRenderer:
    """Writes a 1200×630 social card (title and first lines of the body) as SVG."""

    directory: Path

    def render(self, post: Post) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        title_lines = textwrap.wrap(post.title, 36)[:2]
        body_lines = textwrap.wrap(post.body, 60)[:6]
        texts = [
            f'<text x="80" y="{150 + 70 * i}" font-size="56" font-weight="bold">'
            f"{escape(line)}</text>"
            for i, line in enumerate(title_lines)
        ]
        top = 170 + 70 * len(title_lines)
        texts += [
            f'<text x="80" y="{top + 44 * i}" font-size="30">{escape(line)}</text>'
            for i, line in enumerate(body_lines)
        ]
        svg = "\n".join(
            [
                f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" '
                f'height="{_HEIGHT}" viewBox="0 0 {_WIDTH} {_HEIGHT}">',
                f"<title>{escape(post.title)}</title>",
                f'<rect width="100%" height="100%" fill="{_accent(post.topic)}"/>',
                '<g fill="#ffffff" font-family="sans-serif">',
                *texts,
                "</g>",
                "</svg>",
                "",
            ]
        )
        path = self.directory / f"{post.post_id}.svg"
        path.write_text(svg, encoding="utf-8")
        return path


@dataclass(frozen=True)
class OutboxPublisher:
    """'Publishes' to a platform by writing the post as JSON to ``outbox/<platform>/``."""

    outbox: Path
    platform: str

    def publish(self, post: Post, images: Sequence[Path]) -> PublishRecord:
        directory = self.outbox / self.platform
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{post.post_id}.json"
        record = PublishRecord(
            platform=self.platform,
            post_id=post.post_id,
            title=post.title,
            location=str(path),
            images=[str(image) for image in images],
            published_at=datetime.now(UTC).isoformat(),
        )
        document = {**record, "post": asdict(post)}
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        return record
