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

from dataclasses import dataclass

from app.events.base import Event
from app.events.buffer import EventBuffer

__all__ = ["Mirror", "Mirrors"]


@dataclass(slots=True)
class Mirror(EventBuffer):
    abandoned: bool = False  # another writer got further: the rest is in Redis only


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
        mirror.push(key, event, self._max_events)

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
