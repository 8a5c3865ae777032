"""A run's events held in process memory, and the one way readers follow them.

Both in-memory logs use it: the embedded event log (``app.events.memory``)
and the Redis log's mirror of the runs this process writes
(``app.events.redis_mirror``). Trimming at ``max_events``, the
``EventsExpired`` rules for a start position, and the follow loop with its
keep-alive ticks therefore exist once.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from app.errors import EventsExpired, RunNotFound
from app.events.base import Event, parse_event_id
from app.events.keepalive import KeepAlive

__all__ = ["EventBuffer", "follow"]


@dataclass(slots=True)
class EventBuffer:
    keys: list[tuple[int, int]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    dropped: int = 0  # events removed from the front by max_events
    dropped_last: tuple[int, int] = (0, -1)  # key of the newest dropped event
    closed: bool = False
    # Futures of the readers waiting for the next event, woken all at once by
    # it; nobody polls. Plain futures, not an asyncio.Event per log or per
    # append: an Event allocates a ~0.7 KB deque, and most logs being read
    # belong to idle streams.
    waiters: list[asyncio.Future[bool]] = field(default_factory=list)

    def push(self, key: tuple[int, int], event: Event, max_events: int) -> None:
        """Add ``event`` (``key`` is its parsed id), trim to ``max_events``, wake readers."""
        self.keys.append(key)
        self.events.append(event)
        if len(self.events) > max_events:
            excess = len(self.events) - max_events
            self.dropped_last = self.keys[excess - 1]
            del self.keys[:excess], self.events[:excess]
            self.dropped += excess
        self.notify()

    def notify(self) -> None:
        waiters, self.waiters = self.waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(True)  # True: woken by the log

    def start_index(self, run_id: str, after: str | None, oldest: bool) -> int:
        """Where a reader starts among the retained events."""
        if oldest:
            return 0
        if after is None:
            if self.dropped:
                raise EventsExpired(
                    f"the first {self.dropped} events of run {run_id} are no longer retained"
                )
            return 0
        key = parse_event_id(after)
        if self.dropped and key < self.dropped_last:
            # Events newer than the client's position were dropped: resuming
            # from the oldest retained one would silently skip them.
            raise EventsExpired(
                f"events after {after} of run {run_id} are no longer retained; "
                "re-read the thread state instead"
            )
        return bisect.bisect_right(self.keys, key)


async def follow(
    lookup: Callable[[], EventBuffer | None],
    run_id: str,
    *,
    after: str | None,
    from_oldest: bool,
    keepalive_s: float | None,
) -> AsyncIterator[Sequence[Event]]:
    """``EventLog.read_batches`` over the buffer ``lookup`` finds when reading
    starts (``RunNotFound`` if none): replay, then follow until it closes."""
    if from_oldest and after is not None:
        raise ValueError("from_oldest reads start at the oldest event; do not pass 'after'")
    buffer = lookup()
    if buffer is None:
        raise RunNotFound(f"no event log for run {run_id} (unknown or expired)")
    loop = asyncio.get_running_loop()
    keepalive = KeepAlive(loop, keepalive_s) if keepalive_s is not None else None
    # ``position`` counts events from the start of the run, dropped ones
    # included, so trimming while we wait cannot shift it.
    position = buffer.start_index(run_id, after, from_oldest) + buffer.dropped
    try:
        while True:
            index = position - buffer.dropped
            if index < 0:
                raise EventsExpired(
                    f"reader of run {run_id} fell behind: {-index} events were dropped "
                    "before it read them"
                )
            if index < len(buffer.events):
                pending = buffer.events[index:]  # a copy: appends while we yield stay ours
                position += len(pending)
                yield pending
            elif buffer.closed:
                return  # drained a closed (or deleted) log
            else:
                await _changed(buffer, loop, keepalive)
            if keepalive is not None and keepalive.take_tick():
                yield ()
    finally:
        if keepalive is not None:
            keepalive.stop()


async def _changed(
    buffer: EventBuffer, loop: asyncio.AbstractEventLoop, keepalive: KeepAlive | None
) -> None:
    """Wait for the next event of (or the close of) ``buffer``, or a keep-alive tick."""
    waiter: asyncio.Future[bool] = loop.create_future()
    buffer.waiters.append(waiter)
    if keepalive is not None:
        keepalive.waiter = waiter
    woken_by_log = False
    try:
        woken_by_log = await waiter
    finally:
        if keepalive is not None:
            keepalive.waiter = None
        if not woken_by_log:
            # Left before the log woke it (a tick, a cancel): leave no dead
            # waiter behind, or an idle log would collect one per tick.
            with contextlib.suppress(ValueError):
                buffer.waiters.remove(waiter)
