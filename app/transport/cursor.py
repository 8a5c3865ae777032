"""Where a client asks a run stream to resume: its ``Last-Event-ID``.

A browser ``EventSource`` sends the header by itself; other clients pass
``last_event_id`` as a query parameter or a WebSocket field. LangGraph
Server and its React hook also send four spellings of "nothing seen yet":
``-`` (LangGraph's "replay everything"), ``-1`` (the hook's default for
``joinStream``), ``0`` and ``0-0``. All four mean *replay from the start*,
exactly like no cursor at all; any other value must be an event id this
server handed out (``<ms>-<seq>``).
"""

from __future__ import annotations

from app.errors import InvalidInput
from app.events import parse_event_id

__all__ = ["FROM_START", "resume_cursor"]

FROM_START = frozenset({"", "-", "-1", "0", "0-0"})


def resume_cursor(value: str | None) -> str | None:
    """The event id to resume after, or None to replay from the start.

    Raises ``InvalidInput`` (422) for anything else that is not an event id.
    """
    if value is None:
        return None
    value = value.strip()
    if value in FROM_START:
        return None
    try:
        parse_event_id(value)
    except ValueError:
        raise InvalidInput(
            f"Last-Event-ID {value!r} is not an event id of this server ('<ms>-<seq>'); "
            "send '-' (or -1, 0, 0-0) to replay the run from its start"
        ) from None
    return value
