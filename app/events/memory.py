"""The ordered event log of each run: what every transport reads.

A run's executor appends ``(event, data)`` pairs; SSE, WebSocket, batch
streams and ``/wait`` all read the same log, so they can only differ in
framing. Event data is stored already serialised (one-line JSON bytes):
serialised once, framed many times.

Ids have the shape of Redis stream ids, ``"<unix ms>-<seq>"``, so the memory
backend and a Redis Streams backend can hand out the same kind of id.
Invariants, for every backend (``tests/app/test_events.py`` checks them):

* ids within a run are unique and strictly increasing (two events in the
  same millisecond get ``ms-0``, ``ms-1``; a clock that steps back does not
  make an id go back);
* ``read(run_id, after=X)`` yields exactly the events whose id is greater
  than ``X``, in order, then follows live events until the run's log is
  closed; a reader that starts after the close gets the retained tail;
* a log keeps at most ``max_events`` events (the oldest are dropped) and is
  forgotten ``retention_s`` after ``close``; reading a forgotten or unknown
  log raises ``RunNotFound``;
* a position that lies before a dropped event raises ``EventsExpired``
  rather than silently skipping the gap: ``after`` older than the newest
  dropped event, ``after=None`` once anything was dropped, or a reader that
  fell behind the trimming while following live. ``from_oldest=True`` is
  the explicit opt-out: start at the oldest retained event, whatever was
  dropped before it (what a resumer that can re-synchronise wants);
* ``read_batches`` yields the same events as ``read``, each batch holding
  everything already in the log, and with ``keepalive_s`` an empty batch
  every ``keepalive_s`` seconds on a fixed cadence, busy or idle (a
  transport's heartbeat; a Redis backend's ``XREAD BLOCK`` maps onto it).

``resume`` is how transports read a log on behalf of a client: the plain
``read_batches`` while the history is there, and for ``delta`` streams whose history
was trimmed, a re-synchronisation on the keyframes the executor repeats
(see ``app.runs.execution``), so the client's next delta of every namespace is a
full state instead of a patch against something it never received.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import orjson

from app.errors import EventsExpired, RunNotFound

__all__ = ["Event", "EventLog", "MemoryEventLog", "is_keyframe", "parse_event_id", "resume"]


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    event: str
    data: bytes  # one-line JSON


def parse_event_id(event_id: str) -> tuple[int, int]:
    """``"1700000000000-3"`` → ``(1700000000000, 3)``; raises ValueError if malformed."""
    ms, sep, seq = event_id.partition("-")
    if not sep or not ms.isdigit() or not seq.isdigit():
        raise ValueError(f"event id {event_id!r} is not of the form '<ms>-<seq>'")
    return int(ms), int(seq)


class EventLog(Protocol):
    @property
    def max_events(self) -> int:
        """Events retained per run. A writer that must stay recoverable after
        trimming (delta keyframes) repeats its state at least this often."""
        ...

    async def open(self, run_id: str) -> None:
        """Start an empty log for a run (idempotent)."""
        ...

    async def append(self, run_id: str, event: str, data: bytes) -> str:
        """Append one event; returns its id."""
        ...

    async def close(self, run_id: str) -> None:
        """No more events: readers finish once drained; retention starts."""
        ...

    def read(
        self, run_id: str, *, after: str | None = None, from_oldest: bool = False
    ) -> AsyncIterator[Event]:
        """Replay after ``after`` (all if None), then follow live until closed.

        ``from_oldest`` starts at the oldest retained event instead of raising
        ``EventsExpired`` for the start position (``after`` must be None).
        """
        ...

    def read_batches(
        self,
        run_id: str,
        *,
        after: str | None = None,
        from_oldest: bool = False,
        keepalive_s: float | None = None,
    ) -> AsyncIterator[Sequence[Event]]:
        """``read`` in batches: every event already in the log at once, so a
        transport writes what piled up in one go. With ``keepalive_s``, an
        empty batch every ``keepalive_s`` seconds (busy or idle), so the
        transport can keep its connection alive without a timer of its own.
        """
        ...

    async def delete(self, run_id: str) -> None:
        """Forget the log now; live readers stop."""
        ...


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
        keepalive = _KeepAlive(loop, keepalive_s) if keepalive_s is not None else None
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


class _KeepAlive:
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


async def _changed(
    log: _RunLog, loop: asyncio.AbstractEventLoop, keepalive: _KeepAlive | None
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


_KEYFRAME_PREFIX = b'{"ops":[{"op":"replace","path":"","value":'


def is_keyframe(data: bytes) -> bool:
    """Whether a ``delta`` event's data starts with a replacement of the whole state."""
    if not data.startswith(b'{"ops":[{'):
        return False
    if data.startswith(_KEYFRAME_PREFIX):  # how app.runs.delta spells it: no parse needed
        return True
    ops = orjson.loads(data).get("ops") or []
    first = ops[0] if ops else {}
    return bool(first.get("op") == "replace" and first.get("path") == "")


def _is_delta(name: str) -> bool:
    return name == "delta" or name.startswith("delta|")


async def resume(
    log: EventLog,
    run_id: str,
    *,
    after: str | None = None,
    delta: bool = False,
    keepalive_s: float | None = None,
) -> AsyncIterator[Sequence[Event]]:
    """The run's events after ``after``, then live, in batches; never a silent gap.

    While the log holds everything after ``after`` this is ``log.read_batches``
    (empty batches included: ``keepalive_s`` is passed on). When it does not
    (``EventsExpired``, at the start or because the reader fell behind), a
    stream without ``delta`` gets the ``EventsExpired`` raised to its
    transport, which reports it as an ``error`` event. A ``delta`` stream
    (``delta=True``) is re-synchronised instead: reading on from the oldest
    retained event, each delta namespace (``delta``, ``delta|<ns>``) is
    withheld until its next keyframe, and is forwarded from there on; other
    events are forwarded as they come. If the run ends before the root
    namespace got a keyframe, ``EventsExpired`` is raised (the client cannot
    know the final state) instead of yielding ``end``. Event ids stay strictly
    increasing across the switch.
    """
    last: tuple[int, int] | None = parse_event_id(after) if after is not None else None
    try:
        async for batch in log.read_batches(run_id, after=after, keepalive_s=keepalive_s):
            if batch:
                last = parse_event_id(batch[-1].id)
            yield batch
        return
    except EventsExpired:
        if not delta:
            raise
    while True:  # once per gap: a re-synchronising reader may fall behind too
        synced: set[str] = set()
        unrecoverable = False
        try:
            async for batch in log.read_batches(run_id, from_oldest=True, keepalive_s=keepalive_s):
                kept: list[Event] = []
                for event in batch:
                    key = parse_event_id(event.id)
                    if last is not None and key <= last:
                        continue
                    if _is_delta(event.event) and event.event not in synced:
                        if not is_keyframe(event.data):
                            continue  # a patch against a state the client never got
                        synced.add(event.event)
                    if event.event == "end" and "delta" not in synced:
                        unrecoverable = True
                        break
                    last = key
                    kept.append(event)
                if kept or not batch:  # events, or a keep-alive tick
                    yield kept
                if unrecoverable:
                    break
            else:
                return
        except EventsExpired:
            continue
        if unrecoverable:
            raise EventsExpired(
                f"the delta history of run {run_id} is no longer retained and the run ended "
                "without a later keyframe; re-read the thread state"
            )
