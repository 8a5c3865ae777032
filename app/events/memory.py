"""The event log in process memory: the embedded default (contract: ``app.events.base``)."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from app.errors import EventsExpired, RunNotFound
from app.events.base import Event, parse_event_id
from app.events.keepalive import KeepAlive

__all__ = ["MemoryEventLog"]


@dataclass(slots=True)
class _RunLog:
    keys: list[tuple[int, int]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    dropped: int = 0  # events removed from the front by max_events
    dropped_last: tuple[int, int] = (0, -1)  # key of the newest dropped event
    closed: bool = False
    deleted: bool = False
    # Futures of the readers waiting for the next append, woken all at once by
    # it; nobody polls. Plain futures, not an asyncio.Event per log or per
    # append: an Event allocates a ~0.7 KB deque, and most logs being read
    # belong to idle streams.
    waiters: list[asyncio.Future[bool]] = field(default_factory=list)
    last: tuple[int, int] = (0, -1)


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class MemoryEventLog:
    """Event log in process memory; bounded per run, expiring after close.

    Expiry is lazy: a closed log's deadline is checked whenever the log is
    looked up, and ``open``/``close`` sweep the logs whose deadline passed
    (oldest first, so the sweep is amortised O(1)). No timer per run, and an
    injected ``clock`` makes retention testable without waiting.
    """

    def __init__(
        self,
        *,
        retention_s: float,
        max_events: int,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = _wall_ms,
    ) -> None:
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        self._logs: dict[str, _RunLog] = {}
        self._retention_s = retention_s
        self._max_events = max_events
        self._clock = clock
        self._wall_ms = wall_ms
        # (deadline, run_id, log) in close order; deadlines never decrease
        # because retention is one constant and the clock is monotonic.
        self._expiry: deque[tuple[float, str, _RunLog]] = deque()

    @property
    def max_events(self) -> int:
        return self._max_events

    def _sweep(self) -> None:
        now = self._clock()
        while self._expiry and self._expiry[0][0] <= now:
            _, run_id, log = self._expiry.popleft()
            if self._logs.get(run_id) is log:
                del self._logs[run_id]

    def _get(self, run_id: str) -> _RunLog | None:
        log = self._logs.get(run_id)
        if log is not None and log.closed and self._expiry:
            self._sweep()
            log = self._logs.get(run_id)
        return log

    async def open(self, run_id: str) -> None:
        self._sweep()
        if self._get(run_id) is None:
            self._logs[run_id] = _RunLog()

    def _next_key(self, log: _RunLog) -> tuple[int, int]:
        ms = self._wall_ms()
        last_ms, last_seq = log.last
        return (last_ms, last_seq + 1) if ms <= last_ms else (ms, 0)

    async def append(self, run_id: str, event: str, data: bytes) -> str:
        log = self._get(run_id)
        if log is None:
            log = self._logs[run_id] = _RunLog()
        elif log.closed:
            raise RuntimeError(f"event log of run {run_id} is closed; nothing may follow 'end'")
        key = log.last = self._next_key(log)
        event_id = f"{key[0]}-{key[1]}"
        log.keys.append(key)
        log.events.append(Event(event_id, event, data))
        if len(log.events) > self._max_events:
            excess = len(log.events) - self._max_events
            log.dropped_last = log.keys[excess - 1]
            del log.keys[:excess], log.events[:excess]
            log.dropped += excess
        self._notify(log)
        return event_id

    @staticmethod
    def _notify(log: _RunLog) -> None:
        waiters, log.waiters = log.waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(True)  # True: woken by the log

    async def close(self, run_id: str) -> None:
        log = self._get(run_id)
        if log is None or log.closed:
            return
        log.closed = True
        self._notify(log)
        self._expiry.append((self._clock() + self._retention_s, run_id, log))
        self._sweep()

    async def delete(self, run_id: str) -> None:
        log = self._logs.pop(run_id, None)
        if log is not None:
            log.deleted = log.closed = True
            self._notify(log)

    def _start_index(self, run_id: str, log: _RunLog, after: str | None, oldest: bool) -> int:
        if oldest:
            return 0
        if after is None:
            if log.dropped:
                raise EventsExpired(
                    f"the first {log.dropped} events of run {run_id} are no longer retained"
                )
            return 0
        key = parse_event_id(after)
        if log.dropped and key < log.dropped_last:
            # Events newer than the client's position were dropped: resuming
            # from the oldest retained one would silently skip them.
            raise EventsExpired(
                f"events after {after} of run {run_id} are no longer retained; "
                "re-read the thread state instead"
            )
        return bisect.bisect_right(log.keys, key)

    async def read(
        self, run_id: str, *, after: str | None = None, from_oldest: bool = False
    ) -> AsyncIterator[Event]:
        async for batch in self.read_batches(run_id, after=after, from_oldest=from_oldest):
            for event in batch:
                yield event

    async def read_batches(
        self,
        run_id: str,
        *,
        after: str | None = None,
        from_oldest: bool = False,
        keepalive_s: float | None = None,
    ) -> AsyncIterator[Sequence[Event]]:
        if from_oldest and after is not None:
            raise ValueError("from_oldest reads start at the oldest event; do not pass 'after'")
        log = self._get(run_id)
        if log is None:
            raise RunNotFound(f"no event log for run {run_id} (unknown or expired)")
        loop = asyncio.get_running_loop()
        keepalive = KeepAlive(loop, keepalive_s) if keepalive_s is not None else None
        # ``position`` counts events from the start of the run, dropped ones
        # included, so trimming while we wait cannot shift it.
        position = self._start_index(run_id, log, after, from_oldest) + log.dropped
        try:
            while True:
                index = position - log.dropped
                if index < 0:
                    raise EventsExpired(
                        f"reader of run {run_id} fell behind: {-index} events were dropped "
                        "before it read them"
                    )
                if index < len(log.events):
                    pending = log.events[index:]  # a copy: appends while we yield stay ours
                    position += len(pending)
                    yield pending
                elif log.closed:
                    return  # drained a closed (or deleted) log
                else:
                    await _changed(log, loop, keepalive)
                if keepalive is not None and keepalive.take_tick():
                    yield ()
        finally:
            if keepalive is not None:
                keepalive.stop()


async def _changed(
    log: _RunLog, loop: asyncio.AbstractEventLoop, keepalive: KeepAlive | None
) -> None:
    """Wait for the next append to (or close of) ``log``, or a keep-alive tick."""
    waiter: asyncio.Future[bool] = loop.create_future()
    log.waiters.append(waiter)
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
                log.waiters.remove(waiter)
