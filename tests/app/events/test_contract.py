"""The EventLog contract, run against every backend (``backend`` fixture params).

A backend is added by one more entry in ``_BACKENDS``: a factory for a log
with given retention and size, and how to make time pass for it (a fake
clock for memory; for Redis, whose retention is key expiry kept by the
server, the remaining time to live of the test's keys is shortened). Redis
tests use the session's server and key prefix (``redis_target``), one
sub-prefix per test.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis

from app.errors import EventsExpired, RunNotFound
from app.events import Event, EventLog, MemoryEventLog, parse_event_id
from app.events.redis import RedisEventLog


@dataclass
class FakeClock:
    """Monotonic seconds and wall milliseconds that move only when told."""

    seconds: float = 1_000.0
    wall: int = 1_700_000_000_000
    frozen_wall: bool = False
    _ticks: int = field(default=0, repr=False)

    def monotonic(self) -> float:
        return self.seconds

    def wall_ms(self) -> int:
        if not self.frozen_wall:
            self._ticks += 1  # a real clock moves on; one ms per call keeps ids readable
        return self.wall + self._ticks


@dataclass
class Backend:
    name: str
    make: Callable[[float, int], EventLog]  # (retention_s, max_events) -> log
    advance: Callable[[float], Awaitable[None]]  # let that many seconds pass
    clock: FakeClock | None  # set when the backend's clocks can be steered


def _memory() -> Backend:
    clock = FakeClock()

    def make(retention_s: float, max_events: int) -> EventLog:
        return MemoryEventLog(
            retention_s=retention_s,
            max_events=max_events,
            clock=clock.monotonic,
            wall_ms=clock.wall_ms,
        )

    async def advance(seconds: float) -> None:
        clock.seconds += seconds

    return Backend("memory", make, advance, clock)


_TEST_NUMBERS = itertools.count()


def _redis(client: Redis, prefix: str) -> Backend:
    clock = FakeClock()

    def make(retention_s: float, max_events: int) -> EventLog:
        return RedisEventLog(
            client,
            prefix=prefix,
            retention_s=retention_s,
            max_events=max_events,
            wall_ms=clock.wall_ms,
        )

    async def advance(seconds: float) -> None:
        # What passing time does to keys with a time to live, without the wait.
        async for key in client.scan_iter(match=f"{prefix}*"):
            left_ms = await client.pttl(key)
            if left_ms < 0:
                continue  # no expiry set: an open log is retained whatever the time
            if left_ms <= seconds * 1000:
                await client.delete(key)
            else:
                await client.pexpire(key, left_ms - round(seconds * 1000))

    return Backend("redis", make, advance, clock)


_BACKENDS = ["memory", "redis"]


@pytest.fixture(params=_BACKENDS)
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        yield _memory()
        return
    url, session_prefix = request.getfixturevalue("redis_target")
    client = Redis.from_url(url)
    try:
        yield _redis(client, f"{session_prefix}events{next(_TEST_NUMBERS)}:")
    finally:
        await client.aclose()


@pytest.fixture
def log(backend: Backend) -> EventLog:
    return backend.make(60.0, 1_000)


async def _fill(log: EventLog, run_id: str, count: int, *, start: int = 0) -> list[str]:
    await log.open(run_id)
    return [
        await log.append(run_id, "values", b'{"n":%d}' % n) for n in range(start, start + count)
    ]


async def _drain(events: AsyncIterator[Event]) -> list[Event]:
    return [event async for event in events]


class Follower:
    """Reads a log in its own task and hands events over one at a time.

    When ``next()`` returns, the reader task has already gone back into the
    log to wait for the following event (handing over never suspends it), so
    an append after that exercises the live path, with no sleep involved.
    ``None`` means the reader ended.
    """

    def __init__(self, events: AsyncIterator[Event]) -> None:
        self._events = events
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        try:
            async for event in self._events:
                self._queue.put_nowait(event)
        finally:
            self._queue.put_nowait(None)

    async def next(self) -> Event | None:
        return await self._queue.get()

    async def __aenter__(self) -> Follower:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def _keys(ids: list[str]) -> list[tuple[int, int]]:
    return [parse_event_id(event_id) for event_id in ids]


async def test_append_when_many_events_in_one_millisecond_then_ids_strictly_increase(
    backend: Backend,
) -> None:
    if backend.clock is not None:
        backend.clock.frozen_wall = True  # every append lands in the same millisecond
    log = backend.make(60.0, 10_000)
    ids = await _fill(log, "run", 500)
    keys = _keys(ids)
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys) == 500
    if backend.clock is not None:
        assert {ms for ms, _ in keys} == {backend.clock.wall}
        assert [seq for _, seq in keys] == list(range(500))


async def test_append_when_wall_clock_steps_back_then_ids_still_increase(
    backend: Backend,
) -> None:
    if backend.clock is None:
        pytest.skip("this backend's clock cannot be steered")
    log = backend.make(60.0, 100)
    first = await _fill(log, "run", 3)
    backend.clock.wall -= 10_000  # NTP steps the clock back ten seconds
    second = await _fill(log, "run", 3, start=3)
    keys = _keys(first + second)
    assert keys == sorted(keys)
    assert len(set(keys)) == 6


async def test_read_when_after_given_then_exactly_the_later_events(log: EventLog) -> None:
    ids = await _fill(log, "run", 10)
    await log.close("run")
    events = await _drain(log.read("run", after=ids[4]))
    assert [e.id for e in events] == ids[5:]
    assert [e.data for e in events] == [b'{"n":%d}' % n for n in range(5, 10)]
    assert await _drain(log.read("run", after=ids[-1])) == []


async def test_read_when_after_is_none_then_everything_from_the_start(log: EventLog) -> None:
    ids = await _fill(log, "run", 4)
    await log.close("run")
    assert [e.id for e in await _drain(log.read("run"))] == ids


async def test_read_when_following_live_then_each_append_wakes_the_waiting_reader(
    log: EventLog,
) -> None:
    await log.open("run")
    async with Follower(log.read("run")) as follower:
        for n in range(5):
            # ``next`` returns once the follower has handed the previous event
            # over and gone back to waiting on the log: this append must wake it.
            appended = await log.append("run", "custom", b"%d" % n)
            event = await follower.next()
            assert event is not None
            assert (event.id, event.data) == (appended, b"%d" % n)
        await log.close("run")
        assert await follower.next() is None  # the reader ended with the log


async def test_read_when_several_readers_then_each_gets_the_same_sequence(
    log: EventLog,
) -> None:
    await log.open("run")
    readers = [log.read("run") for _ in range(3)]
    ids = [await log.append("run", "values", b"1")]
    firsts = [await anext(reader) for reader in readers]
    ids += await _fill(log, "run", 3)
    await log.close("run")
    rests = [await _drain(reader) for reader in readers]
    for first, rest in zip(firsts, rests, strict=True):
        assert [first.id, *(e.id for e in rest)] == ids


async def test_read_when_started_after_close_then_gets_the_retained_tail(
    log: EventLog,
) -> None:
    ids = await _fill(log, "run", 3)
    await log.close("run")
    assert [e.id for e in await _drain(log.read("run"))] == ids
    assert [e.id for e in await _drain(log.read("run", after=ids[0]))] == ids[1:]


async def test_read_when_retention_elapsed_then_run_not_found(backend: Backend) -> None:
    log = backend.make(5.0, 100)
    await _fill(log, "run", 2)
    await log.close("run")
    await backend.advance(4.0)
    assert len(await _drain(log.read("run"))) == 2  # still retained
    await backend.advance(1.5)
    with pytest.raises(RunNotFound):
        await _drain(log.read("run"))


async def test_read_when_log_still_open_then_retention_does_not_apply(backend: Backend) -> None:
    log = backend.make(1.0, 100)
    await _fill(log, "run", 2)
    await backend.advance(3_600.0)  # a long run: retention starts at close
    ids = await _fill(log, "run", 1, start=2)
    await log.close("run")
    events = await _drain(log.read("run"))
    assert len(events) == 3
    assert events[-1].id == ids[0]


async def test_read_when_unknown_run_then_run_not_found(log: EventLog) -> None:
    with pytest.raises(RunNotFound):
        await _drain(log.read("nobody"))


async def test_read_when_max_events_exceeded_then_from_the_start_expires(
    backend: Backend,
) -> None:
    log = backend.make(60.0, 4)
    ids = await _fill(log, "run", 10)
    await log.close("run")
    with pytest.raises(EventsExpired):
        await _drain(log.read("run"))
    with pytest.raises(EventsExpired):
        await _drain(log.read("run", after=ids[2]))  # events 3..5 are gone
    assert [e.id for e in await _drain(log.read("run", after=ids[7]))] == ids[8:]


async def test_read_when_after_is_the_newest_dropped_event_then_nothing_is_missing(
    backend: Backend,
) -> None:
    log = backend.make(60.0, 4)
    ids = await _fill(log, "run", 10)  # 0..5 dropped, 6..9 retained
    await log.close("run")
    events = await _drain(log.read("run", after=ids[5]))
    assert [e.id for e in events] == ids[6:]


async def test_read_when_from_oldest_then_starts_at_the_oldest_retained_event(
    backend: Backend,
) -> None:
    log = backend.make(60.0, 4)
    ids = await _fill(log, "run", 10)
    await log.close("run")
    assert [e.id for e in await _drain(log.read("run", from_oldest=True))] == ids[6:]


async def test_read_when_reader_falls_behind_the_trimming_then_expired(
    backend: Backend,
) -> None:
    log = backend.make(60.0, 3)
    await log.open("run")
    first = await log.append("run", "values", b"0")
    reader = log.read("run")
    assert (await anext(reader)).id == first
    await _fill(log, "run", 5, start=1)  # events 1 and 2 are dropped unread
    with pytest.raises(EventsExpired):
        await anext(reader)  # raising also ends the reader


async def test_delete_when_reader_waiting_then_reader_stops_and_log_is_gone(
    log: EventLog,
) -> None:
    await _fill(log, "run", 1)
    async with Follower(log.read("run")) as follower:
        assert await follower.next() is not None
        await log.delete("run")  # the follower is waiting for a second event
        assert await follower.next() is None
    with pytest.raises(RunNotFound):
        await _drain(log.read("run"))


async def test_open_when_called_twice_then_events_are_kept(log: EventLog) -> None:
    ids = await _fill(log, "run", 2)
    await log.open("run")
    await log.close("run")
    assert [e.id for e in await _drain(log.read("run"))] == ids


async def test_append_when_log_closed_then_refused(log: EventLog) -> None:
    await _fill(log, "run", 1)
    await log.close("run")
    with pytest.raises(RuntimeError, match="closed"):
        await log.append("run", "values", b"{}")


async def test_runs_when_several_then_logs_are_independent(log: EventLog) -> None:
    a = await _fill(log, "a", 2)
    b = await _fill(log, "b", 3)
    await log.close("a")
    await log.close("b")
    assert [e.id for e in await _drain(log.read("a"))] == a
    assert [e.id for e in await _drain(log.read("b"))] == b


def test_max_events_when_asked_then_reports_the_bound(backend: Backend) -> None:
    assert backend.make(60.0, 7).max_events == 7


# -- read_batches: what transports read ---------------------------------------


async def test_read_batches_when_events_piled_up_then_one_batch_holds_them_all(
    log: EventLog,
) -> None:
    ids = await _fill(log, "run", 5)
    batches = log.read_batches("run")
    assert [e.id for e in await anext(batches)] == ids  # one write for the five
    more = await _fill(log, "run", 2, start=5)
    await log.close("run")
    assert [[e.id for e in batch] async for batch in batches] == [more]


async def test_read_batches_when_idle_with_keepalive_then_empty_batch_each_interval(
    log: EventLog,
) -> None:
    await log.open("run")
    loop = asyncio.get_running_loop()
    started = loop.time()
    ticks: list[float] = []
    async for batch in log.read_batches("run", keepalive_s=0.05):
        assert list(batch) == []
        ticks.append(loop.time() - started)
        if len(ticks) == 4:
            break
    # A tick comes no sooner than its interval, on a fixed cadence.
    for n, at in enumerate(ticks, start=1):
        assert at >= 0.05 * n - 0.005
    assert ticks[-1] < 0.05 * 4 + 0.5


async def test_read_batches_when_busy_with_keepalive_then_ticks_keep_their_cadence(
    log: EventLog,
) -> None:
    """Events every 10 ms do not postpone a 50 ms keep-alive: it is a heartbeat,
    not an idle timeout."""
    await log.open("run")

    async def writer() -> None:
        for n in range(30):
            await log.append("run", "custom", b"%d" % n)
            await asyncio.sleep(0.01)  # the pace of the traffic, not synchronisation
        await log.close("run")

    task = asyncio.create_task(writer())
    events, ticks = 0, 0
    async for batch in log.read_batches("run", keepalive_s=0.05):
        if batch:
            events += len(batch)
        else:
            ticks += 1
    await task
    assert events == 30
    assert ticks >= 3  # ~0.3 s of traffic at a 50 ms cadence


async def test_read_batches_when_no_keepalive_then_never_an_empty_batch(log: EventLog) -> None:
    await _fill(log, "run", 3)
    await log.close("run")
    batches = [list(batch) async for batch in log.read_batches("run")]
    assert batches
    assert all(batches)
