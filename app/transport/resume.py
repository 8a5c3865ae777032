"""``resume`` is how transports read a log on behalf of a client: the plain
``read_batches`` while the history is there, and for ``delta`` streams whose history
was trimmed, a re-synchronisation on the keyframes the executor repeats
(see ``app.runs.execution``), so the client's next delta of every namespace is a
full state instead of a patch against something it never received.

Every transport (SSE, the WebSocket, batch streams) reads a run through
``resume``: one replay, one keyframe re-synchronisation, one keep-alive cadence.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import orjson

from app.errors import EventsExpired
from app.events.base import Event, EventLog, parse_event_id

__all__ = ["is_keyframe", "resume"]


_KEYFRAME_PREFIX = b'{"ops":[{"op":"replace","path":"","value":'


def is_keyframe(data: bytes) -> bool:
    """Whether a ``delta`` event's data starts with a replacement of the whole state."""
    if not data.startswith(b'{"ops":[{'):
        return False
    if data.startswith(_KEYFRAME_PREFIX):  # how app.runs.delta spells it: no parse needed
        return True
    ops = orjson.loads(data).get("ops") or []
    first = ops[0] if ops else {}
    return bool(first.get("op") == "replace" and first.get("path") == "")


def _is_delta(name: str) -> bool:
    return name == "delta" or name.startswith("delta|")


async def resume(
    log: EventLog,
    run_id: str,
    *,
    after: str | None = None,
    delta: bool = False,
    keepalive_s: float | None = None,
    from_oldest: bool = False,
) -> AsyncIterator[Sequence[Event]]:
    """The run's events after ``after``, then live, in batches; never a silent gap.

    ``from_oldest`` (without ``after``): a reader that has seen nothing and
    asks for whatever is retained (a thread stream opened without a cursor)
    starts at the oldest retained event instead of failing on a trimmed
    start; gaps while it follows still raise ``EventsExpired``.

    While the log holds everything after ``after`` this is ``log.read_batches``
    (empty batches included: ``keepalive_s`` is passed on). When it does not
    (``EventsExpired``, at the start or because the reader fell behind), a
    stream without ``delta`` gets the ``EventsExpired`` raised to its
    transport, which reports it as an ``error`` event. A ``delta`` stream
    (``delta=True``) is re-synchronised instead: reading on from the oldest
    retained event, each delta namespace (``delta``, ``delta|<ns>``) is
    withheld until its next keyframe, and is forwarded from there on; other
    events are forwarded as they come. If the run ends before the root
    namespace got a keyframe, ``EventsExpired`` is raised (the client cannot
    know the final state) instead of yielding ``end``. Event ids stay strictly
    increasing across the switch.
    """
    last: tuple[int, int] | None = parse_event_id(after) if after is not None else None
    try:
        batches = log.read_batches(
            run_id, after=after, from_oldest=from_oldest, keepalive_s=keepalive_s
        )
        async for batch in batches:
            if batch:
                last = parse_event_id(batch[-1].id)
            yield batch
        return
    except EventsExpired:
        if not delta:
            raise
    while True:  # once per gap: a re-synchronising reader may fall behind too
        synced: set[str] = set()
        unrecoverable = False
        try:
            async for batch in log.read_batches(run_id, from_oldest=True, keepalive_s=keepalive_s):
                kept: list[Event] = []
                for event in batch:
                    key = parse_event_id(event.id)
                    if last is not None and key <= last:
                        continue
                    if _is_delta(event.event) and event.event not in synced:
                        if not is_keyframe(event.data):
                            continue  # a patch against a state the client never got
                        synced.add(event.event)
                    if event.event == "end" and "delta" not in synced:
                        unrecoverable = True
                        break
                    last = key
                    kept.append(event)
                if kept or not batch:  # events, or a keep-alive tick
                    yield kept
                if unrecoverable:
                    break
            else:
                return
        except EventsExpired:
            continue
        if unrecoverable:
            raise EventsExpired(
                f"the delta history of run {run_id} is no longer retained and the run ended "
                "without a later keyframe; re-read the thread state"
            )
