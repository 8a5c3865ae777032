"""Who is waiting for a thread's next run: what lets a thread stream follow
one run after another without polling.

``RunManager`` calls ``notify`` whenever it schedules a run on a thread; a
reader takes ``next_run`` *before* it lists the thread's runs, so a run
scheduled between its listing and its wait still wakes it. Futures, not an
``asyncio.Event`` per thread: most threads have nobody watching.

In-process only: a run scheduled by another server process does not wake a
reader here (the distributed coordinator's signals would carry it).
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["ThreadWatch"]


class ThreadWatch:
    def __init__(self) -> None:
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}

    def next_run(self, thread_id: str) -> asyncio.Future[None]:
        """A future resolved when the next run is scheduled on ``thread_id``."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(thread_id, []).append(waiter)
        return waiter

    def forget(self, thread_id: str, waiter: asyncio.Future[None]) -> None:
        """Drop a waiter its reader no longer waits on (it left early)."""
        waiters = self._waiters.get(thread_id)
        if waiters is None:
            return
        with contextlib.suppress(ValueError):
            waiters.remove(waiter)
        if not waiters:
            del self._waiters[thread_id]

    def notify(self, thread_id: str) -> None:
        for waiter in self._waiters.pop(thread_id, ()):
            if not waiter.done():
                waiter.set_result(None)
