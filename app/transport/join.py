"""Joining a run's stream later: which of its events a join asks for, and
whether anything is left to send.

``GET /threads/{tid}/runs/{rid}/stream`` may name ``stream_mode`` (a subset
of the modes the run was created with, as in LangGraph Server). The filter
works on an event's *mode*, the part of its name before the first ``|``, so
a subgraph's ``updates|inner:<task>`` goes wherever ``updates`` goes (a join
that dropped them was langgraph#7778). ``metadata``, ``error`` and ``end``
always pass: they frame the run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence

from app.errors import EventsExpired, InvalidInput, RunNotFound
from app.events import Event
from app.schemas import STREAM_MODES

__all__ = ["FRAMING_EVENTS", "joined_events", "only_events", "unless_drained"]

FRAMING_EVENTS = frozenset({"metadata", "error", "end"})

# The wire names each stream mode's events carry (app.runs.execution).
_WIRE: dict[str, tuple[str, ...]] = {
    "messages-tuple": ("messages",),
    "messages": ("messages/metadata", "messages/partial", "messages/complete"),
}


def _as_list(modes: str | Iterable[str]) -> list[str]:
    return [modes] if isinstance(modes, str) else list(modes)


def joined_events(requested: Sequence[str], run_modes: str | Iterable[str]) -> frozenset[str]:
    """The event modes a join forwards; raises ``InvalidInput`` for a mode the
    run does not stream (the join would wait for events that never come)."""
    streamed = _as_list(run_modes)
    unknown = [m for m in requested if m not in STREAM_MODES]
    if unknown:
        raise InvalidInput(
            f"unknown stream_mode {unknown}; expected some of {sorted(STREAM_MODES)}"
        )
    missing = [m for m in requested if m not in streamed]
    if missing:
        raise InvalidInput(
            f"this run streams {streamed}, not {missing}; join with a subset of its stream modes"
        )
    names = set(FRAMING_EVENTS)
    for mode in requested:
        names.update(_WIRE.get(mode, (mode,)))
    return frozenset(names)


async def only_events(
    batches: AsyncIterator[Sequence[Event]], names: frozenset[str]
) -> AsyncIterator[Sequence[Event]]:
    """The batches with only the events whose mode is in ``names``; empty
    batches (keep-alive ticks) pass, batches emptied by the filter do not."""
    async for batch in batches:
        if not batch:
            yield batch
            continue
        kept = [e for e in batch if e.event.partition("|")[0] in names]
        if kept:
            yield kept


async def unless_drained(
    batches: AsyncIterator[Sequence[Event]],
) -> AsyncIterator[Sequence[Event]] | None:
    """``batches``, or None when there is nothing left to send: the log is
    closed and drained after the cursor, or already forgotten.

    Only for a run that has ended: its log is closed (or about to be, once
    ``end`` is appended), so the first read returns without waiting.
    """
    try:
        first = await anext(batches)
    except (StopAsyncIteration, RunNotFound):
        return None
    except EventsExpired as exc:
        return _failing(exc)  # said in the stream, as any other resume would
    return _prepend(first, batches)


async def _failing(exc: EventsExpired) -> AsyncIterator[Sequence[Event]]:
    raise exc
    yield ()  # pragma: no cover - makes this an async generator


async def _prepend(
    first: Sequence[Event], rest: AsyncIterator[Sequence[Event]]
) -> AsyncIterator[Sequence[Event]]:
    yield first
    async for batch in rest:
        yield batch
