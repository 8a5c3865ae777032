"""The runs this process writes, mirrored in memory while they run: readers here
follow the mirror instead of Redis (``app.events.redis``).

A run's events are written to Redis first; once Redis has acknowledged an
event, the same event (same id) goes to the mirror. So the mirror holds
exactly a prefix of what Redis holds, and a reader of the mirror sees what a
Redis reader would, without a Redis command: the writer's own instance is
where most streams of a run are read (``/runs/stream``, ``/wait``, a
``stream`` join on the instance that took the create), and reading them back
from Redis cost a script call and an ``XREAD`` per wake-up, plus one pooled
connection per blocked reader.

A mirror exists only from the start of a log that this process created
(``open`` found no log), so it is complete: a run taken over from another
instance, whose first events another process wrote, has none and is read
from Redis. It trims at ``max_events`` as the stream does, with the same
``EventsExpired`` rules, and goes away when the run's log is closed or
deleted: readers already on it drain it (a closed mirror ends as the stream
does, after everything the run wrote), later readers go to Redis. Nothing
stays in memory after a run ends.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from app.errors import EventsExpired
from app.events.base import Event, parse_event_id
from app.events.keepalive import KeepAlive

__all__ = ["Mirror", "Mirrors"]


@dataclass(slots=True)
class Mirror:
    keys: list[tuple[int, int]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    dropped: int = 0  # events removed from the front by max_events
    dropped_last: tuple[int, int] = (0, -1)  # key of the newest dropped event
    closed: bool = False
    abandoned: bool = False  # another writer got further: the rest is in Redis only
    # Readers waiting for the next event, all woken by it (as app.events.memory).
    waiters: list[asyncio.Future[bool]] = field(default_factory=list)

    def notify(self) -> None:
        waiters, self.waiters = self.waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(True)


class Mirrors:
    """The mirrors of the runs this process writes, by run id."""

    def __init__(self, max_events: int) -> None:
        self._max_events = max_events
        self._mirrors: dict[str, Mirror] = {}

    def __len__(self) -> int:
        return len(self._mirrors)

    def start(self, run_id: str) -> None:
        """The run's log was just created here: mirror it from its first event."""
        self._mirrors[run_id] = Mirror()

    def get(self, run_id: str) -> Mirror | None:
        return self._mirrors.get(run_id)

    def add(self, run_id: str, key: tuple[int, int], event: Event) -> None:
        """An event Redis acknowledged; ``key`` is its parsed id."""
        mirror = self._mirrors.get(run_id)
        if mirror is None:
            return
        mirror.keys.append(key)
        mirror.events.append(event)
        if len(mirror.events) > self._max_events:
            excess = len(mirror.events) - self._max_events
            mirror.dropped_last = mirror.keys[excess - 1]
            del mirror.keys[:excess], mirror.events[:excess]
            mirror.dropped += excess
        mirror.notify()

    def end(self, run_id: str) -> None:
        """The log was closed or deleted (in Redis already): readers on the
        mirror finish once drained; new readers read Redis."""
        mirror = self._mirrors.pop(run_id, None)
        if mirror is not None:
            mirror.closed = True
            mirror.notify()

    def abandon(self, run_id: str) -> None:
        """Another writer appended to the log (it was taken over): the mirror
        is no longer the whole log, so its readers switch to Redis."""
        mirror = self._mirrors.pop(run_id, None)
        if mirror is not None:
            mirror.abandoned = mirror.closed = True
            mirror.notify()


def _start_index(run_id: str, mirror: Mirror, after: str | None, oldest: bool) -> int:
    """Where a reader starts, with the stream's rules for trimmed events."""
    if oldest:
        return 0
    if after is None:
        if mirror.dropped:
            raise EventsExpired(f"the first events of run {run_id} are no longer retained")
        return 0
    key = parse_event_id(after)
    if mirror.dropped and key < mirror.dropped_last:
        raise EventsExpired(
            f"events after {after} of run {run_id} are no longer retained; "
            "re-read the thread state instead"
        )
    return bisect.bisect_right(mirror.keys, key)


async def read_mirror(
    mirror: Mirror,
    run_id: str,
    *,
    after: str | None,
    from_oldest: bool,
    keepalive_s: float | None,
) -> AsyncIterator[Sequence[Event]]:
    """``EventLog.read_batches`` over a mirror."""
    loop = asyncio.get_running_loop()
    keepalive = KeepAlive(loop, keepalive_s) if keepalive_s is not None else None
    # Counted from the run's first event, dropped ones included, so trimming
    # while we wait cannot shift it.
    position = _start_index(run_id, mirror, after, from_oldest) + mirror.dropped
    try:
        while True:
            index = position - mirror.dropped
            if index < 0:
                raise EventsExpired(
                    f"reader of run {run_id} fell behind: {-index} events were dropped "
                    "before it read them"
                )
            if index < len(mirror.events):
                pending = mirror.events[index:]  # a copy: appends while we yield stay ours
                position += len(pending)
                yield pending
            elif mirror.closed:
                return
            else:
                await _changed(mirror, loop, keepalive)
            if keepalive is not None and keepalive.take_tick():
                yield ()
    finally:
        if keepalive is not None:
            keepalive.stop()


async def _changed(
    mirror: Mirror, loop: asyncio.AbstractEventLoop, keepalive: KeepAlive | None
) -> None:
    """Wait for the next event of (or the end of) ``mirror``, or a keep-alive tick."""
    waiter: asyncio.Future[bool] = loop.create_future()
    mirror.waiters.append(waiter)
    if keepalive is not None:
        keepalive.waiter = waiter
    woken = False
    try:
        woken = await waiter
    finally:
        if keepalive is not None:
            keepalive.waiter = None
        if not woken:  # a tick or a cancel: leave no dead waiter behind
            with contextlib.suppress(ValueError):
                mirror.waiters.remove(waiter)
