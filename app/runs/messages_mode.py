"""``stream_mode="messages"`` as LangGraph Server sends it.

``messages-tuple`` forwards LangGraph's ``(message chunk, metadata)`` pairs
as they come. ``messages`` is the older shape the JavaScript SDK and many
frontends still read: per message id, one ``messages/metadata`` event
``{id: {"metadata": ...}}`` when the message first appears, then after every
chunk a ``messages/partial`` event carrying the whole message so far
(``[message]``, chunks added up), or ``messages/complete`` for a message
that arrived whole (a node's output rather than streamed tokens).
"""

from __future__ import annotations

import uuid
from typing import Any

from langchain_core.messages import BaseMessage, BaseMessageChunk, message_chunk_to_message

__all__ = ["MessageAccumulator"]


class MessageAccumulator:
    """The messages of one run (one namespace), added up chunk by chunk."""

    def __init__(self) -> None:
        self._messages: dict[str, BaseMessage] = {}

    def feed(self, message: Any, metadata: Any) -> list[tuple[str, Any]]:
        """The ``(event, data)`` pairs one ``(message, metadata)`` part becomes."""
        if not isinstance(message, BaseMessage):
            return []  # not a LangChain message: nothing this shape can say
        if message.id is None:
            message = message.model_copy(update={"id": str(uuid.uuid4())})
        message_id = str(message.id)
        events: list[tuple[str, Any]] = []
        known = self._messages.get(message_id)
        if known is None:
            events.append(("messages/metadata", {message_id: {"metadata": metadata}}))
            self._messages[message_id] = message
        elif isinstance(known, BaseMessageChunk) and isinstance(message, BaseMessageChunk):
            self._messages[message_id] = known + message
        else:
            self._messages[message_id] = message
        if isinstance(message, BaseMessageChunk):
            whole = message_chunk_to_message(self._messages[message_id])
            events.append(("messages/partial", [whole]))
        else:
            events.append(("messages/complete", [message]))
        return events
