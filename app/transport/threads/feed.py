"""A thread's events: the event logs of its runs, one run after the other.

Thread streams (the thread streaming protocol, ``GET /threads/{id}/stream``)
follow a thread rather than a run. Runs of a thread take turns (one at a
time, in creation order), so the feed reads each run's log through
``app.transport.resume`` to its end, then the next run's, and when the thread
has no run left it waits for ``ThreadWatch`` to say one was scheduled. It
frames nothing: each item is a run's log event with its thread cursor
(``app.transport.threads.cursor``).

Where it starts (``since``, the client's cursor):

* ``None``: at the thread's current run (its oldest pending or running
  one), or else its latest run; that run is replayed from its start (or its
  oldest retained event), then the feed follows. A client that opens a
  stream just after ``run.start`` gets the whole run, however fast it was.
* ``0``: every retained event of the thread (runs whose logs have expired
  are left out: there is nothing to replay).
* a seq: runs that may hold events at or after it. Each run is still read
  from its start (its framing needs the whole run: lifecycle, interrupts),
  and events before the cursor's millisecond come marked ``visible=False``.
  If an event after the cursor is no longer retained (its run's log was
  trimmed past it, or expired although the run ended after the cursor), the
  feed raises ``ResumeGap``: the client must re-read the thread's state.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from app.errors import EventsExpired, ResumeGap, RunNotFound
from app.events import Event, EventLog
from app.runs.thread_watch import ThreadWatch
from app.store.base import ACTIVE_RUN_STATUSES, Run, RunStore
from app.transport.resume import resume
from app.transport.threads.cursor import SLOTS_PER_MS, floor_after, seq_of

__all__ = ["FeedEvent", "thread_feed"]

_RUNS_LISTED = 100  # the newest runs of a thread a stream considers
# A run's record says when it ended (updated_at) a moment before its last
# events are appended; runs ending this long before a cursor are still read.
_MARGIN_MS = 60_000


@dataclass(frozen=True, slots=True)
class FeedEvent:
    run: Run
    event: Event
    seq: int
    visible: bool  # False: before the client's cursor, read only to frame the rest


def _ms(run: Run) -> int:
    return int(run.updated_at.timestamp() * 1000)


def _starting_runs(runs: list[Run], since: int | None) -> list[Run]:
    """Which of a thread's runs (oldest first) a new stream reads first."""
    if since is None:
        active = [i for i, run in enumerate(runs) if run.status in ACTIVE_RUN_STATUSES]
        return runs[active[0] :] if active else runs[-1:]
    if since == 0:
        return runs
    since_ms = since // SLOTS_PER_MS
    return [
        run
        for run in runs
        if run.status in ACTIVE_RUN_STATUSES or _ms(run) >= since_ms - _MARGIN_MS
    ]


async def _run_events(log: EventLog, run: Run, since: int | None) -> AsyncIterator[list[FeedEvent]]:
    cursor = since or 0
    floor = (cursor // SLOTS_PER_MS) * SLOTS_PER_MS

    def items(batch: Sequence[Event]) -> list[FeedEvent]:
        out = []
        for event in batch:
            seq = seq_of(event.id)
            out.append(FeedEvent(run, event, seq, visible=seq >= floor))
        return out

    try:
        try:
            # Without a cursor the client has nothing: whatever is retained.
            async for batch in resume(log, run.run_id, from_oldest=since is None):
                if batch:
                    yield items(batch)
        except EventsExpired:
            if not cursor:
                raise
            # The run's start is gone; what came after the cursor may remain.
            async for batch in resume(log, run.run_id, after=floor_after(cursor)):
                if batch:
                    yield items(batch)
    except EventsExpired as exc:
        raise ResumeGap(
            f"events of run {run.run_id} after the cursor are no longer retained "
            f"({exc.message}); re-read the thread state and stream from now on"
        ) from None
    except RunNotFound:
        if cursor and _ms(run) >= cursor // SLOTS_PER_MS:
            raise ResumeGap(
                f"run {run.run_id} ended after the cursor and its events are no longer "
                "retained; re-read the thread state and stream from now on"
            ) from None
        # Its log expired (or this process never had it): nothing to replay.


async def thread_feed(
    *,
    runs: RunStore,
    log: EventLog,
    watch: ThreadWatch,
    thread_id: str,
    since: int | None,
) -> AsyncIterator[list[FeedEvent]]:
    """The thread's events from ``since`` on, following new runs for ever."""
    done: set[str] = set()
    first = True
    while True:
        # Taken before listing: a run scheduled from here on wakes us.
        waiter = watch.next_run(thread_id)
        try:
            listed = await runs.for_thread(thread_id, limit=_RUNS_LISTED)
            listed.reverse()  # oldest first: the order runs take their turns
            if first:
                first = False
                candidates = _starting_runs(listed, since)
                done.update(run.run_id for run in listed if run not in candidates)
            else:
                candidates = listed
            fresh = [run for run in candidates if run.run_id not in done]
            for run in fresh:
                done.add(run.run_id)
                async for batch in _run_events(log, run, since):
                    yield batch
            if not fresh:
                await waiter
        finally:
            with contextlib.suppress(Exception):
                watch.forget(thread_id, waiter)
