"""The ordered event log of each run: what every transport reads.

A run's executor appends ``(event, data)`` pairs; SSE, WebSocket, batch
streams and ``/wait`` all read the same log, so they can only differ in
framing. Event data is stored already serialised (one-line JSON bytes):
serialised once, framed many times.

Ids have the shape of Redis stream ids, ``"<unix ms>-<seq>"``, so the memory
backend and a Redis Streams backend can hand out the same kind of id.
Invariants, for every backend:

* ids within a run are unique and strictly increasing (two events in the
  same millisecond get ``ms-0``, ``ms-1``; a clock that steps back does not
  make an id go back);
* ``read(run_id, after=X)`` yields exactly the events whose id is greater
  than ``X``, in order, then follows live events until the run's log is
  closed; a reader that starts after the close gets the retained tail;
* an ``after`` older than the oldest retained event raises ``EventsExpired``
  rather than silently skipping the gap.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from app.errors import EventsExpired, RunNotFound

__all__ = ["Event", "EventLog", "MemoryEventLog", "parse_event_id"]


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    event: str
    data: bytes  # one-line JSON


def parse_event_id(event_id: str) -> tuple[int, int]:
    """``"1700000000000-3"`` → ``(1700000000000, 3)``; raises ValueError if malformed."""
    ms, sep, seq = event_id.partition("-")
    if not sep or not ms.isdigit() or not seq.isdigit():
        raise ValueError(f"event id {event_id!r} is not of the form '<ms>-<seq>'")
    return int(ms), int(seq)


class EventLog(Protocol):
    async def open(self, run_id: str) -> None:
        """Start an empty log for a run (idempotent)."""
        ...

    async def append(self, run_id: str, event: str, data: bytes) -> str:
        """Append one event; returns its id."""
        ...

    async def close(self, run_id: str) -> None:
        """No more events: readers finish once drained; retention starts."""
        ...

    def read(self, run_id: str, *, after: str | None = None) -> AsyncIterator[Event]:
        """Replay after ``after`` (all if None), then follow live until closed."""
        ...

    async def delete(self, run_id: str) -> None: ...


@dataclass(slots=True)
class _RunLog:
    keys: list[tuple[int, int]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    dropped: int = 0  # events removed from the front by max_events
    closed: bool = False
    # Replaced on every append: readers wait on the current one, so waking
    # them costs one set() however many are listening, and nobody polls.
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    last: tuple[int, int] = (0, -1)


class MemoryEventLog:
    """Event log in process memory; bounded per run, expiring after close."""

    def __init__(self, *, retention_s: float, max_events: int) -> None:
        self._logs: dict[str, _RunLog] = {}
        self._retention_s = retention_s
        self._max_events = max_events
        self._expiry: dict[str, asyncio.TimerHandle] = {}

    async def open(self, run_id: str) -> None:
        self._logs.setdefault(run_id, _RunLog())

    def _next_key(self, log: _RunLog) -> tuple[int, int]:
        ms = time.time_ns() // 1_000_000
        last_ms, last_seq = log.last
        return (last_ms, last_seq + 1) if ms <= last_ms else (ms, 0)

    async def append(self, run_id: str, event: str, data: bytes) -> str:
        log = self._logs.get(run_id)
        if log is None:
            log = self._logs[run_id] = _RunLog()
        key = self._next_key(log)
        log.last = key
        event_id = f"{key[0]}-{key[1]}"
        log.keys.append(key)
        log.events.append(Event(event_id, event, data))
        if len(log.events) > self._max_events:
            excess = len(log.events) - self._max_events
            del log.keys[:excess], log.events[:excess]
            log.dropped += excess
        self._notify(log)
        return event_id

    @staticmethod
    def _notify(log: _RunLog) -> None:
        log.changed.set()
        log.changed = asyncio.Event()

    async def close(self, run_id: str) -> None:
        log = self._logs.get(run_id)
        if log is None or log.closed:
            return
        log.closed = True
        self._notify(log)
        loop = asyncio.get_running_loop()
        self._expiry[run_id] = loop.call_later(self._retention_s, self._expire, run_id)

    def _expire(self, run_id: str) -> None:
        self._expiry.pop(run_id, None)
        self._logs.pop(run_id, None)

    async def delete(self, run_id: str) -> None:
        handle = self._expiry.pop(run_id, None)
        if handle is not None:
            handle.cancel()
        log = self._logs.pop(run_id, None)
        if log is not None and not log.closed:
            log.closed = True
            self._notify(log)

    def _start_index(self, run_id: str, log: _RunLog, after: str | None) -> int:
        if after is None:
            if log.dropped:
                raise EventsExpired(
                    f"the first {log.dropped} events of run {run_id} are no longer retained"
                )
            return 0
        key = parse_event_id(after)
        if log.dropped and (not log.keys or key < log.keys[0]):
            # The client's position lies in the dropped prefix: resuming from
            # the oldest retained event would silently skip events.
            raise EventsExpired(
                f"events after {after} of run {run_id} are no longer retained; "
                "re-read the thread state instead"
            )
        return bisect.bisect_right(log.keys, key)

    async def read(self, run_id: str, *, after: str | None = None) -> AsyncIterator[Event]:
        log = self._logs.get(run_id)
        if log is None:
            raise RunNotFound(f"no event log for run {run_id} (unknown or expired)")
        position = self._start_index(run_id, log, after) + log.dropped
        while True:
            index = position - log.dropped
            if index < 0:
                raise EventsExpired(f"reader of run {run_id} fell behind the retained events")
            pending = log.events[index:]
            for event in pending:
                yield event
            position += len(pending)
            if log.closed and position - log.dropped >= len(log.events):
                return
            if position - log.dropped >= len(log.events):
                await log.changed.wait()
            if self._logs.get(run_id) is not log:
                return  # deleted while we waited
