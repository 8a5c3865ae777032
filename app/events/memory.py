"""The event log in process memory: the embedded default (contract: ``app.events.base``)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from app.events.base import Event
from app.events.buffer import EventBuffer, follow

__all__ = ["MemoryEventLog"]


@dataclass(slots=True)
class _RunLog(EventBuffer):
    last: tuple[int, int] = (0, -1)  # key of the newest event appended


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
        log.push(key, Event(event_id, event, data), self._max_events)
        return event_id

    async def close(self, run_id: str) -> None:
        log = self._get(run_id)
        if log is None or log.closed:
            return
        log.closed = True
        log.notify()
        self._expiry.append((self._clock() + self._retention_s, run_id, log))
        self._sweep()

    async def delete(self, run_id: str) -> None:
        log = self._logs.pop(run_id, None)
        if log is not None:
            log.closed = True  # its readers drain what it held, then end
            log.notify()

    async def read(
        self, run_id: str, *, after: str | None = None, from_oldest: bool = False
    ) -> AsyncIterator[Event]:
        async for batch in self.read_batches(run_id, after=after, from_oldest=from_oldest):
            for event in batch:
                yield event

    def read_batches(
        self,
        run_id: str,
        *,
        after: str | None = None,
        from_oldest: bool = False,
        keepalive_s: float | None = None,
    ) -> AsyncIterator[Sequence[Event]]:
        # The buffer is looked up when reading starts, as a generator would.
        return follow(
            lambda: self._get(run_id),
            run_id,
            after=after,
            from_oldest=from_oldest,
            keepalive_s=keepalive_s,
        )
