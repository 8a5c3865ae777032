"""Which protocol events a subscription wants: channels, namespaces, depth.

The same rules the clients apply (``langgraph_sdk.stream.subscription``,
the JS SDK's ``matchesSubscription``), so the server sends what a client's
union of subscriptions covers and nothing it would throw away:

* an event's channel is its method, except ``input.requested`` (channel
  ``input``) and ``custom``, whose channel is ``custom:<name>`` when its
  data names one (``custom`` covers every ``custom:<name>``);
* ``namespaces`` are prefixes: a segment matches literally, or, when the
  prefix segment has no ``:``, the event's segment without its ``:<task>``
  suffix; no ``namespaces`` means every namespace;
* ``depth`` bounds how far below its prefix an event may be.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from app.schemas import Strict

__all__ = ["CHANNELS", "EventFilter", "channel_of", "matches"]

CHANNELS = frozenset(
    {"values", "updates", "messages", "tools", "lifecycle", "input", "checkpoints", "tasks"}
    | {"custom"}
)


class EventFilter(Strict):
    """``SubscribeParams`` (and the stream body's ``since``)."""

    channels: list[str] = Field(min_length=1)
    namespaces: list[list[str]] | None = None
    depth: int | None = Field(None, ge=0)
    since: int | None = Field(None, ge=0)

    @field_validator("channels")
    @classmethod
    def _known(cls, channels: list[str]) -> list[str]:
        unknown = [c for c in channels if c not in CHANNELS and not _named_custom(c)]
        if unknown:
            raise ValueError(
                f"unknown channels {unknown}; expected some of {sorted(CHANNELS)} "
                "or 'custom:<name>'"
            )
        return channels


def _named_custom(channel: str) -> bool:
    return channel.startswith("custom:") and len(channel) > len("custom:")


def channel_of(event: dict[str, Any]) -> str | None:
    method = event.get("method")
    if method == "input.requested":
        return "input"
    if method == "custom":
        data = event["params"]["data"]
        name = data.get("name") if isinstance(data, dict) else None
        return f"custom:{name}" if isinstance(name, str) and name else "custom"
    return method if method in CHANNELS else None


def _prefix(namespace: list[str], prefix: list[str]) -> bool:
    if len(prefix) > len(namespace):
        return False
    for want, have in zip(prefix, namespace, strict=False):
        if have == want:
            continue
        if ":" in want or have.partition(":")[0] != want:
            return False
    return True


def matches(event: dict[str, Any], wanted: EventFilter) -> bool:
    channel = channel_of(event)
    if channel is None:
        return False
    if channel not in wanted.channels and not (
        channel.startswith("custom:") and "custom" in wanted.channels
    ):
        return False
    if not wanted.namespaces:
        return True
    namespace: list[str] = event["params"]["namespace"]
    return any(
        _prefix(namespace, prefix)
        and (wanted.depth is None or len(namespace) - len(prefix) <= wanted.depth)
        for prefix in wanted.namespaces
    )
