"""The one keep-alive cadence every transport uses: a tick every ``every_s``, busy or idle.

A heartbeat, not an idle timeout: ticks fall on a fixed schedule whatever the
traffic, so a proxy or client always sees bytes at least that often. The event
log's readers take ticks between batches (``KeepAlive`` wakes a waiting
reader); anything else that waits for a result (batch items, ``/wait``)
wraps its source in ``with_keepalive``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

__all__ = ["KeepAlive", "with_keepalive"]

T = TypeVar("T")


class KeepAlive:
    """One reader's keep-alive cadence: a tick every ``every_s``, busy or idle.

    One timer per interval, not a timeout per wait: a short run's reader
    waits a handful of times and ticks never. The timer wakes the reader if it
    is waiting; a busy reader finds the tick when it next looks.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, every_s: float) -> None:
        self._loop = loop
        self._every_s = every_s
        self._at = loop.time() + every_s
        self._due = False
        self.waiter: asyncio.Future[bool] | None = None
        self._timer = loop.call_at(self._at, self._fire)

    def _fire(self) -> None:
        self._due = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(False)  # False: woken by the tick, not the log

    def take_tick(self) -> bool:
        if not self._due:
            return False
        self._due = False
        self._at = max(self._at + self._every_s, self._loop.time())
        self._timer = self._loop.call_at(self._at, self._fire)
        return True

    def stop(self) -> None:
        self._timer.cancel()


async def with_keepalive(
    source: AsyncIterator[T], every_s: float | None
) -> AsyncIterator[T | None]:
    """``source``'s items, and ``None`` on the ``KeepAlive`` cadence (busy or idle).

    Without ``every_s`` it is ``source`` itself. Leaving early (the consumer
    stops or is cancelled) cancels the pending read of ``source``.
    """
    if every_s is None:
        async for item in source:
            yield item
        return
    loop = asyncio.get_running_loop()
    cadence = KeepAlive(loop, every_s)
    pending: asyncio.Future[T] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(source))
            tick: asyncio.Future[bool] = loop.create_future()
            cadence.waiter = tick
            try:
                await asyncio.wait((pending, tick), return_when=asyncio.FIRST_COMPLETED)
            finally:
                cadence.waiter = None
            if pending.done():
                try:
                    item = pending.result()
                except StopAsyncIteration:
                    return
                pending = None
                yield item
            if cadence.take_tick():
                yield None
    finally:
        cadence.stop()
        if pending is not None and not pending.done():
            pending.cancel()
