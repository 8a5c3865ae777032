"""The cursor of a thread stream: one integer that orders every run's events.

A thread's runs take turns, and each run's event log hands out ids
``"<ms>-<n>"``. A thread stream (the thread streaming protocol, and
``GET /threads/{id}/stream``) numbers an event ``seq = ms * 1000 + n``: the
wall-clock millisecond it was appended and its place within that
millisecond. That is the protocol's ``seq`` (and ``since``), and the SSE
``id`` of a thread join. It needs no counter shared between runs or
processes, and stays below 2^53, so a JavaScript client holds it exactly.

Two runs of a thread can append in the same millisecond (the next run starts
the moment the last one ends), where ``n`` restarts at 0; and more than 1000
events in one millisecond share the last slot. So a resume starts at the
*beginning of the cursor's millisecond* (``floor``), not just after it: a
few events the client already has may come again, and the protocol's
``event_id`` (unique per event, see ``event_id``) lets it drop them. Nothing
is skipped.
"""

from __future__ import annotations

from app.errors import InvalidInput
from app.events import parse_event_id

__all__ = ["SLOTS_PER_MS", "event_id", "floor_after", "parse_since", "seq_of"]

SLOTS_PER_MS = 1000


def seq_of(log_event_id: str) -> int:
    ms, n = parse_event_id(log_event_id)
    return ms * SLOTS_PER_MS + min(n, SLOTS_PER_MS - 1)


def floor_after(since: int) -> str:
    """The log position to read after so that every event of ``since``'s
    millisecond (and later) is read: an id just before ``<ms>-0``."""
    ms = since // SLOTS_PER_MS
    return f"{ms - 1}-{2**63}" if ms > 0 else "0-0"


def event_id(run_id: str, log_event_id: str, part: int) -> str:
    """The protocol ``event_id``: one log event may frame as several protocol
    events (a state with interrupts: ``values`` and ``input.requested``)."""
    return f"{run_id}:{log_event_id}:{part}"


def parse_since(value: object) -> int | None:
    """A client's cursor (``since``, or a thread join's ``Last-Event-ID``).

    None (no cursor): start at the thread's latest run. 0, and the run
    stream's spellings of "nothing seen yet" (``-``, ``-1``, ``0-0``): every
    retained event of the thread. Otherwise the last seq the client has.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text in ("", "-", "-1", "0", "0-0"):
            return 0
        if not text.isdigit():
            raise InvalidInput(
                f"thread stream cursor {value!r} is not a seq (a non-negative integer); "
                "send the last seq you received, or none to start at the latest run"
            )
        return int(text)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"'since' must be a non-negative integer seq, not {value!r}")
    return value
