"""The Redis event log beyond the contract: several instances, dropped connections,
retried appends, writers that take a run over, an unreachable server."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from app.errors import BackendUnavailable
from app.events.base import Event, parse_event_id
from app.events.redis import RedisEventLog
from tests.support.server import free_port

_NUMBERS = itertools.count()


@pytest.fixture
async def clients(redis_target: tuple[str, str]) -> AsyncIterator[Callable[[str], Redis]]:
    """Redis clients, one per simulated instance (each its own pool), named for CLIENT KILL."""
    url, _ = redis_target
    made: list[Redis] = []

    def make(name: str) -> Redis:
        client = Redis.from_url(url, client_name=name)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
def prefix(redis_target: tuple[str, str]) -> str:
    return f"{redis_target[1]}redis{next(_NUMBERS)}:"


def _log(client: Redis, prefix: str, **options: object) -> RedisEventLog:
    return RedisEventLog(client, prefix=prefix, retention_s=60.0, max_events=1000, **options)  # type: ignore[arg-type]


async def _collect(reader: AsyncIterator[Event], into: list[Event]) -> None:
    async for event in reader:
        into.append(event)


async def test_logs_when_written_on_one_instance_then_followed_and_resumed_on_others(
    clients: Callable[[str], Redis], prefix: str
) -> None:
    a, b, c = (_log(clients(name), prefix) for name in "abc")
    await a.open("run")
    first = await a.append("run", "values", b"0")
    seen_on_b: list[Event] = []
    follower = asyncio.create_task(_collect(b.read("run"), seen_on_b))
    ids = [first] + [await a.append("run", "values", b"%d" % n) for n in range(1, 6)]
    resumed = [e.id async for e in _take(c.read("run", after=ids[2]), 3)]
    await a.close("run")
    await asyncio.wait_for(follower, 10)
    assert [e.id for e in seen_on_b] == ids
    assert resumed == ids[3:]


async def _take(reader: AsyncIterator[Event], count: int) -> AsyncIterator[Event]:
    async for event in reader:
        yield event
        count -= 1
        if count == 0:
            return


async def test_read_when_connections_are_killed_mid_stream_then_no_gap_and_no_duplicate(
    clients: Callable[[str], Redis], prefix: str
) -> None:
    writer = _log(clients("writer"), prefix)
    reader_name = f"reader-{prefix}".replace(":", "-")
    reader = _log(clients(reader_name), prefix)
    admin = clients("admin")
    await writer.open("run")
    seen: asyncio.Queue[Event | None] = asyncio.Queue()

    async def follow() -> None:
        async for event in reader.read("run"):
            seen.put_nowait(event)
        seen.put_nowait(None)

    follower = asyncio.create_task(follow())
    ids = [await writer.append("run", "values", b"%d" % n) for n in range(5)]
    got = [await seen.get() for _ in range(5)]
    # Wait (on what Redis reports, not on time) until the reader blocks in
    # XREAD again, then drop its connections as a Redis restart would.
    await _until_blocked_in_xread(admin, reader_name)
    killed = 0
    for entry in await admin.client_list():
        if entry["name"] == reader_name:
            killed += await admin.client_kill_filter(_id=entry["id"])
    assert killed >= 1
    ids += [await writer.append("run", "values", b"%d" % n) for n in range(5, 10)]
    await writer.close("run")
    while (event := await asyncio.wait_for(seen.get(), 15)) is not None:
        got.append(event)
    await follower
    assert [e.id for e in got if e is not None] == ids


async def _until_blocked_in_xread(admin: Redis, name: str) -> None:
    """Return once Redis lists a connection named ``name`` blocked in XREAD."""
    for _ in range(2000):
        listing = await admin.client_list()
        if any(e["name"] == name and e["cmd"] == "xread" and "b" in e["flags"] for e in listing):
            return
        await asyncio.sleep(0.005)  # Redis has no notification for this; ask again
    raise AssertionError(f"no connection {name} ever blocked in XREAD")


async def test_append_when_retried_after_a_lost_reply_then_appended_once(
    clients: Callable[[str], Redis], prefix: str
) -> None:
    client = clients("writer")
    log = _log(client, prefix)
    await log.open("run")
    event_id = await log.append("run", "values", b"0")
    keys = [f"{prefix}ev:{{run}}", f"{prefix}evm:{{run}}"]
    # What a retry sends when the first attempt landed but its reply was lost.
    status, last = await log._append(keys=keys, args=[event_id, "values", b"0", 1000])
    assert (status, last.decode()) == (0, event_id)
    assert await client.xlen(keys[0]) == 1


async def test_append_when_another_writer_got_further_then_ids_continue_after_its_own(
    clients: Callable[[str], Redis], prefix: str
) -> None:
    ahead = _log(clients("old-owner"), prefix, wall_ms=lambda: 1_900_000_000_000)
    behind = _log(clients("new-owner"), prefix, wall_ms=lambda: 1_700_000_000_000)
    await ahead.open("run")
    taken_over_at = await ahead.append("run", "values", b"0")
    continued = [await behind.append("run", "values", b"%d" % n) for n in range(1, 4)]
    keys = [parse_event_id(i) for i in [taken_over_at, *continued]]
    assert keys == sorted(keys)
    assert len(set(keys)) == 4
    await behind.close("run")
    assert [e.id async for e in behind.read("run")] == [taken_over_at, *continued]


async def test_calls_when_redis_unreachable_then_backend_unavailable_after_retry_window() -> None:
    dead = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2)
    log = RedisEventLog(dead, prefix="x:", retention_s=1.0, max_events=10, retry_s=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(BackendUnavailable, match="Redis is unreachable"):
        await log.append("run", "values", b"{}")
    assert loop.time() - started < 3.0
    await dead.aclose()


async def _connections(admin: Redis, name: str) -> int:
    return sum(entry["name"] == name for entry in await admin.client_list())


async def test_read_when_run_written_on_this_instance_then_readers_hold_no_redis_connection(
    clients: Callable[[str], Redis], prefix: str
) -> None:
    name = f"mirror-{prefix}".replace(":", "-")
    log, admin = _log(clients(name), prefix), clients("admin")
    await log.open("run")
    first = await log.append("run", "values", b"0")
    arrived: asyncio.Queue[Event] = asyncio.Queue()
    seen: list[list[Event]] = [[] for _ in range(50)]

    async def follow(into: list[Event]) -> None:
        async for event in log.read("run"):
            into.append(event)
            arrived.put_nowait(event)

    readers = [asyncio.create_task(follow(into)) for into in seen]
    for _ in readers:
        assert (await asyncio.wait_for(arrived.get(), 10)).id == first
    # 50 readers following live: on Redis each would block in XREAD on a
    # connection of its own; they follow this instance's mirror instead.
    assert await _connections(admin, name) <= 1
    rest = [await log.append("run", "values", b"%d" % n) for n in range(1, 4)]
    await log.close("run")
    await asyncio.wait_for(asyncio.gather(*readers), 10)
    assert all([e.id for e in events] == [first, *rest] for events in seen)
    # Once closed the mirror is gone: a later reader gets the same log from Redis.
    assert [e.id async for e in log.read("run")] == [first, *rest]


async def test_read_when_another_writer_takes_the_run_over_then_local_readers_go_on_from_redis(
    clients: Callable[[str], Redis], prefix: str
) -> None:
    old = _log(clients("old-owner"), prefix, wall_ms=lambda: 1_700_000_000_000)
    new = _log(clients("new-owner"), prefix, wall_ms=lambda: 1_900_000_000_000)
    await old.open("run")
    first = await old.append("run", "values", b"0")
    seen: list[Event] = []
    follower = asyncio.create_task(_collect(old.read("run"), seen))
    taken_over = await new.append("run", "values", b"1")
    # The old writer learns it was overtaken on its next append; its own
    # readers must not miss what the new writer wrote.
    after = await old.append("run", "values", b"2")
    await new.close("run")
    await asyncio.wait_for(follower, 10)
    assert [e.id for e in seen] == [first, taken_over, after]
    assert [e.id async for e in new.read("run")] == [first, taken_over, after]


async def test_append_when_many_runs_append_at_once_then_one_connection_carries_them(
    clients: Callable[[str], Redis], prefix: str
) -> None:
    name = f"batch-{prefix}".replace(":", "-")
    log, admin = _log(clients(name), prefix), clients("admin")
    runs = [f"run{n}" for n in range(50)]
    await asyncio.gather(*(log.open(run) for run in runs))
    ids = await asyncio.gather(*(log.append(run, "values", b"1") for run in runs))
    # Sent one by one, 50 concurrent calls would each take a pooled connection.
    assert await _connections(admin, name) <= 2
    await asyncio.gather(*(log.close(run) for run in runs))
    for run, event_id in zip(runs, ids, strict=True):
        assert [e.id async for e in log.read(run)] == [event_id]
