"""The cron scheduler: fires each due tick exactly once, as an ordinary run.

``tick(now)`` takes the crons due by ``now`` and, for each, claims its tick
in the store (a conditional update of ``next_run_date``, see
``app.store.crons``): whichever scheduler wins creates the run through the
run manager, so a cron's runs are listed, streamed and joined like any run.
Several processes on one database may tick at once; each tick still makes
one run. Ticks missed while no scheduler ran (a restart) fire once, then
the schedule continues from ``now``.

Schedules are cron expressions (``croniter``) in the cron's IANA time zone
(UTC when none): ``0 9 * * *`` in ``Europe/Paris`` is 09:00 Paris time,
whatever the offset that day. ``now`` is injectable, so tests move time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from app.errors import InvalidInput
from app.runs.manager import RunManager
from app.schemas import RunCreate
from app.store.base import utcnow
from app.store.crons import Cron, CronStore

__all__ = ["CronScheduler", "next_tick", "zone"]

log = logging.getLogger("switchyard.crons")


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown time zone {name!r}; use an IANA name like 'Europe/Paris'"
        ) from None


def next_tick(schedule: str, timezone: str | None, after: datetime) -> datetime:
    """The first tick of ``schedule`` strictly after ``after``, as a UTC datetime."""
    if not croniter.is_valid(schedule):
        raise InvalidInput(f"schedule {schedule!r} is not a cron expression (e.g. '*/5 * * * *')")
    local = after.astimezone(zone(timezone))
    following: datetime = croniter(schedule, local).get_next(datetime)
    return following.astimezone(ZoneInfo("UTC"))


def _unobserved(outcome: str) -> None:
    pass


class CronScheduler:
    def __init__(
        self, store: CronStore, runs: RunManager, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._store = store
        self._runs = runs
        self._clock = clock
        # Told "fired" or "failed" for each tick this scheduler won (app.observability).
        self.observe: Callable[[str], None] = _unobserved

    async def tick(self, now: datetime | None = None) -> int:
        """Fire every tick due by ``now`` that this scheduler wins; returns how many."""
        now = now or self._clock()
        fired = 0
        for cron in await self._store.due(now):
            assert cron.next_run_date is not None  # due() only returns scheduled crons
            following: datetime | None = next_tick(cron.schedule, cron.timezone, now)
            if cron.end_time is not None and following is not None and following > cron.end_time:
                following = None  # the schedule is over: nothing is due any more
            if not await self._store.claim(cron.cron_id, cron.next_run_date, following):
                continue  # another scheduler fired this tick
            fired += 1
            try:
                await self._fire(cron)
            except Exception:
                self.observe("failed")
                log.exception("cron %s could not start its run", cron.cron_id)
            else:
                self.observe("fired")
        return fired

    async def _fire(self, cron: Cron) -> None:
        metadata = {**(cron.payload.get("metadata") or {}), "cron_id": cron.cron_id}
        body = RunCreate.model_validate(
            {**cron.payload, "assistant_id": cron.assistant_id, "metadata": metadata}
        )
        thread_metadata = None
        if cron.thread_id is None:
            # A stateless cron's run has a thread of its own, kept or deleted when done;
            # a kept one carries the run's metadata, owner stamped when the cron was
            # created (app.endpoints.crons), as a thread a request creates does.
            body = body.model_copy(update={"on_completion": cron.on_run_completed or "delete"})
            thread_metadata = metadata
        await self._runs.create(body, thread_id=cron.thread_id, thread_metadata=thread_metadata)
