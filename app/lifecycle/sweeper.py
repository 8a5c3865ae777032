"""The thread TTL sweeper: applies due TTLs, and the default TTL to idle threads.

Each ``sweep(now)``:

1. takes the TTLs due by ``now``; a thread used since its TTL was armed
   (``updated_at`` later) or running right now is re-armed from its last use
   instead, so only idle threads are swept; otherwise its strategy applies
   (``delete``: the thread is gone; ``keep_latest``: its history is pruned and
   the TTL re-armed, so it is pruned again after the next period);
2. with ``SWITCHYARD_THREADS_DEFAULT_TTL_MINUTES`` set, applies the default
   strategy to threads idle that long that have no TTL of their own.

``now`` is injectable, so tests move time instead of waiting for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from app.lifecycle.purge import ThreadPurger
from app.platform.settings import ThreadSettings
from app.store import Storage
from app.store.base import utcnow
from app.store.thread_ttl import ThreadTTL, ThreadTTLStore

__all__ = ["ThreadSweeper"]

log = logging.getLogger("switchyard.lifecycle")

_PAGE = 100


class ThreadSweeper:
    def __init__(
        self,
        storage: Storage,
        ttls: ThreadTTLStore,
        purger: ThreadPurger,
        settings: ThreadSettings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._storage = storage
        self._ttls = ttls
        self._purger = purger
        self._settings = settings
        self._clock = clock

    async def sweep(self, now: datetime | None = None) -> int:
        """Apply what is due by ``now``; returns how many threads were swept."""
        now = now or self._clock()
        swept = 0
        for ttl in await self._ttls.due(now):
            swept += await self._apply(ttl, now)
        if self._settings.default_ttl_minutes is not None:
            swept += await self._sweep_idle(now, self._settings.default_ttl_minutes)
        return swept

    async def _apply(self, ttl: ThreadTTL, now: datetime) -> int:
        thread = await self._storage.threads.get(ttl.thread_id)
        if thread is None:
            await self._ttls.forget(ttl.thread_id)
            return 0
        period = timedelta(minutes=ttl.ttl_minutes)
        last_use = thread.updated_at
        if last_use + period > now or await self._storage.runs.active(ttl.thread_id):
            # Used since it was armed: due one period after that use; running:
            # one period from now (it is in use this very moment).
            rearm = last_use + period if last_use + period > now else now + period
            await self._ttls.set(ThreadTTL(ttl.thread_id, ttl.strategy, ttl.ttl_minutes, rearm))
            return 0
        if not await self._purger.prune(ttl.thread_id, ttl.strategy):
            return 0
        if ttl.strategy == "keep_latest":
            await self._ttls.set(
                ThreadTTL.starting(ttl.thread_id, ttl.strategy, ttl.ttl_minutes, now)
            )
        log.info("thread %s swept (%s after %g min)", ttl.thread_id, ttl.strategy, ttl.ttl_minutes)
        return 1

    async def _sweep_idle(self, now: datetime, minutes: float) -> int:
        cutoff = now - timedelta(minutes=minutes)
        strategy = self._settings.default_ttl_strategy
        swept, offset = 0, 0
        while True:
            page = await self._storage.threads.search(
                sort_by="updated_at", sort_order="asc", limit=_PAGE, offset=offset
            )
            idle = [t for t in page if t.updated_at <= cutoff and t.status != "busy"]
            page_swept = 0
            for thread in idle:
                if await self._ttls.get(thread.thread_id) is None:
                    page_swept += await self._purger.prune(thread.thread_id, strategy)
            swept += page_swept
            if len(page) < _PAGE or page[-1].updated_at > cutoff:
                return swept
            # Deleted threads left the listing; pruned ones are still in it.
            offset += len(page) - (page_swept if strategy == "delete" else 0)
