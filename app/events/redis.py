"""The event log on Redis Streams: every instance reads every run (contract: ``app.events.base``).

Per run, two keys (the ``{run_id}`` hash tag keeps them on one Cluster slot)::

    <prefix>ev:{run_id}    a stream: one entry per event, fields e (event), d (data),
                           n (1, 2, 3, ... per run); or a marker, field m (closed|deleted)
    <prefix>evm:{run_id}   a hash: state (open|closed), n (events appended),
                           last (newest event id), dropped (newest trimmed id)

Every change is one Lua script, so the stream and its hash never disagree.
The writes of one event-loop iteration (appends, opens and closes of any
number of runs) go to Redis as one pipeline (``_Batch``): one round trip and
one pooled connection for all of them, each still its own script call with
its own reply.

* **Ids.** The writer names each event ``<ms>-<seq>`` from its own clock,
  exactly as the memory log does, and the script refuses an id not after the
  stream's ``last``. Knowing the id before Redis answers makes a retried
  append idempotent (a reply lost with the connection: the retry finds its
  own id is ``last``, nothing is appended twice) and lets a writer that
  takes a run over continue after the previous writer's ids, whatever the
  clocks say.
* **Length.** ``XADD ... MAXLEN max_events`` (exact) trims as it appends;
  the script first records the newest id it is about to drop in
  ``dropped``, which is what ``EventsExpired`` is decided on.
* **Retention.** ``close`` marks the hash closed, appends a ``closed``
  marker (which wakes every blocked reader) and sets ``PEXPIRE
  retention_s`` on both keys: Redis forgets the log, no sweeper needed. A
  missing hash is an unknown or forgotten log (``RunNotFound``).
* **Readers** replay with one script call (``XRANGE`` after their position,
  plus the hash, atomically) and then block on ``XREAD BLOCK`` after their
  position, the block bounded by the next keep-alive tick: an empty batch
  every ``keepalive_s``, busy or idle, as in memory. Each entry's ``n`` must
  follow the previous one's; a jump means trimming overtook the reader
  (``EventsExpired``). A blocked reader holds one pooled connection.
* **Mirror.** What this process writes to a log it started is also kept in
  memory until the log closes (``app.events.redis_mirror``), and readers in
  this process follow that instead of Redis: no ``XREAD`` and no blocked
  connection for the runs an instance executes itself. Readers of other
  instances' runs read Redis as above.
* **Dropped connections** are retried for ``retry_s`` (``app.redis_client``);
  a reader resumes after its position, so it neither skips nor repeats.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from app.errors import EventsExpired, RunNotFound
from app.events.base import Event, parse_event_id
from app.events.buffer import follow
from app.events.redis_mirror import Mirrors
from app.redis_client import retrying

__all__ = ["RedisEventLog"]

# KEYS: stream, meta. Starts the log unless it exists (a stale stream of a
# deleted log with the same id is dropped); 1 if it started it, else 0.
_OPEN = """
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'state', 'open', 'n', 0, 'last', '0-0')
  return 1
end
return 0
"""

# KEYS: stream, meta. ARGV: id, event, data, max_events.
# Returns {1, id} appended, {0, last} id not after last, {-1, last} closed.
_APPEND = """
local meta = redis.call('HMGET', KEYS[2], 'state', 'last')
local state, last = meta[1], meta[2]
if state == 'closed' then return {-1, last} end
if not state then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'state', 'open', 'n', 0, 'last', '0-0')
  last = '0-0'
end
local function split(id)
  local dash = string.find(id, '-', 1, true)
  return tonumber(string.sub(id, 1, dash - 1)), tonumber(string.sub(id, dash + 1))
end
local ms, seq = split(ARGV[1])
local last_ms, last_seq = split(last)
if ms < last_ms or (ms == last_ms and seq <= last_seq) then return {0, last} end
local n = redis.call('HINCRBY', KEYS[2], 'n', 1)
local max_events = tonumber(ARGV[4])
local length = redis.call('XLEN', KEYS[1])
if length >= max_events then
  local gone = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', length - max_events + 1)
  redis.call('HSET', KEYS[2], 'dropped', gone[#gone][1])
end
redis.call('XADD', KEYS[1], 'MAXLEN', max_events, ARGV[1], 'e', ARGV[2], 'd', ARGV[3], 'n', n)
redis.call('HSET', KEYS[2], 'last', ARGV[1])
return {1, ARGV[1]}
"""

# KEYS: stream, meta. ARGV: retention ms.
_CLOSE = """
local state = redis.call('HGET', KEYS[2], 'state')
if not state or state == 'closed' then return 0 end
redis.call('HSET', KEYS[2], 'state', 'closed')
redis.call('XADD', KEYS[1], '*', 'm', 'closed')
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return 1
"""

# KEYS: stream, meta. The marker wakes blocked readers; the stream goes soon after.
_DELETE = """
redis.call('DEL', KEYS[2])
redis.call('XADD', KEYS[1], '*', 'm', 'deleted')
redis.call('PEXPIRE', KEYS[1], 60000)
return 1
"""

# KEYS: stream, meta. ARGV: XRANGE start, count. nil when the log is unknown.
_READ = """
local meta = redis.call('HMGET', KEYS[2], 'state', 'n', 'dropped')
if not meta[1] then return false end
local entries = redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])
return {meta[2], meta[3] or '', entries}
"""

_BATCH = 1000  # entries fetched per call; more come with the next one
_IDLE_BLOCK_S = 30.0  # without keep-alive, re-check that the log still exists this often

# (id, fields): XREAD parses fields into a dict, a script hands back the flat list.
Entry = tuple[bytes, dict[bytes, bytes] | list[bytes]]


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class RedisEventLog:
    """``EventLog`` on Redis Streams, shared by every instance on one Redis."""

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str,
        retention_s: float,
        max_events: int,
        retry_s: float = 10.0,
        wall_ms: Callable[[], int] = _wall_ms,
    ) -> None:
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        self._redis = client
        self._prefix = prefix
        self._retention_ms = max(1, round(retention_s * 1000))  # PEXPIRE 0 would skip the marker
        self._max_events = max_events
        self._retry_s = retry_s
        self._wall_ms = wall_ms
        # The newest id this process appended per run it writes: the next id
        # follows it without asking Redis.
        self._last: dict[str, tuple[int, int]] = {}
        self._mirrors = Mirrors(max_events)
        self._open = client.register_script(_OPEN)
        self._append = client.register_script(_APPEND)
        self._close = client.register_script(_CLOSE)
        self._batch = _Batch(client)
        self._delete = client.register_script(_DELETE)
        self._read = client.register_script(_READ)

    @property
    def max_events(self) -> int:
        return self._max_events

    def _keys(self, run_id: str) -> list[str]:
        return [f"{self._prefix}ev:{{{run_id}}}", f"{self._prefix}evm:{{{run_id}}}"]

    async def _call(self, what: str, operation: Callable[[], Any]) -> Any:
        return await retrying(operation, retry_s=self._retry_s, what=what)

    async def open(self, run_id: str) -> None:
        keys = self._keys(run_id)
        started = await self._call("open", lambda: self._batch.run(self._open, keys, []))
        if started == 1:
            self._mirrors.start(run_id)

    def _next_key(self, run_id: str) -> tuple[int, int]:
        ms = self._wall_ms()
        last_ms, last_seq = self._last.get(run_id, (0, -1))
        return (last_ms, last_seq + 1) if ms <= last_ms else (ms, 0)

    async def append(self, run_id: str, event: str, data: bytes) -> str:
        keys = self._keys(run_id)
        key = self._next_key(run_id)
        while True:
            event_id = f"{key[0]}-{key[1]}"
            attempts = 0

            def attempt(event_id: str = event_id) -> Any:
                nonlocal attempts
                attempts += 1
                args: list[str | bytes | int] = [event_id, event, data, self._max_events]
                return self._batch.run(self._append, keys, args)

            status, last = await self._call("append", attempt)
            last_id = last.decode() if isinstance(last, bytes) else str(last)
            if status == 1 or (attempts > 1 and last_id == event_id):
                # Appended, possibly by an attempt whose reply the connection lost.
                self._last[run_id] = key
                self._mirrors.add(run_id, key, Event(event_id, event, data))
                return event_id
            if status == -1:
                raise RuntimeError(f"event log of run {run_id} is closed; nothing may follow 'end'")
            # Another writer (a run taken over) or another clock got further:
            # continue after the stream's newest id. The mirror lacks what the
            # other one wrote: its readers go on from Redis.
            self._mirrors.abandon(run_id)
            last_key = parse_event_id(last_id)
            self._last[run_id] = last_key
            key = self._next_key(run_id)

    async def close(self, run_id: str) -> None:
        self._last.pop(run_id, None)
        try:
            keys, args = self._keys(run_id), [self._retention_ms]
            await self._call("close", lambda: self._batch.run(self._close, keys, args))
        finally:
            self._mirrors.end(run_id)

    async def delete(self, run_id: str) -> None:
        self._last.pop(run_id, None)
        try:
            await self._call("delete", lambda: self._delete(keys=self._keys(run_id)))
        finally:
            self._mirrors.end(run_id)

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
        if after is not None:
            parse_event_id(after)  # a malformed position is the caller's error, not Redis's
        mirror = self._mirrors.get(run_id)
        if mirror is not None:
            mirrored = follow(
                lambda: mirror,
                run_id,
                after=after,
                from_oldest=from_oldest,
                keepalive_s=keepalive_s,
            )
            async for batch in mirrored:
                if batch:
                    after, from_oldest = batch[-1].id, False
                yield batch
            if not mirror.abandoned:
                return
            # Another writer took the log over: the rest is in Redis only.
        reader = _Reader(self, run_id, after, keepalive_s)
        async for batch in reader.batches(check_start=not from_oldest):
            yield batch


class _Batch:
    """Script calls made in one event-loop iteration, sent as one pipeline.

    Each call keeps its own reply (or error): the pipeline is not a
    transaction, only a shared round trip. A connection lost mid-pipeline
    fails every call in it with that error, which ``retrying`` retries call by
    call, so the idempotence of a retried append (its id is the stream's
    last) holds as for a call sent alone. A writer awaits each append of a
    run before the next, so one pipeline never holds two appends of a run.
    """

    def __init__(self, client: Redis) -> None:
        self._client = client
        self._calls: list[tuple[AsyncScript, list[str], list[Any], asyncio.Future[Any]]] = []

    def run(self, script: AsyncScript, keys: list[str], args: list[Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[Any] = loop.create_future()
        if not self._calls:
            # After every ready callback of this iteration has had its turn.
            loop.call_soon(self._send)
        self._calls.append((script, keys, args, reply))
        return reply

    def _send(self) -> None:
        calls, self._calls = self._calls, []
        task = asyncio.ensure_future(self._execute(calls))
        task.add_done_callback(_consume)

    async def _execute(
        self, calls: list[tuple[AsyncScript, list[str], list[Any], asyncio.Future[Any]]]
    ) -> None:
        pipe = self._client.pipeline(transaction=False)
        for script, keys, args, _ in calls:
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        try:
            replies = await pipe.execute(raise_on_error=False)
        except BaseException as exc:
            for *_, reply in calls:
                if not reply.done():
                    reply.set_exception(exc)
            raise
        for (script, keys, args, reply), result in zip(calls, replies, strict=True):
            if reply.done():
                continue  # its caller went away
            if isinstance(result, NoScriptError):
                # Redis forgot the script (a restart): the script object loads it.
                task = asyncio.ensure_future(script(keys=keys, args=args))
                task.add_done_callback(functools.partial(_settle, reply))
            elif isinstance(result, Exception):
                reply.set_exception(result)
            else:
                reply.set_result(result)


def _settle(reply: asyncio.Future[Any], done: asyncio.Future[Any]) -> None:
    if reply.done():
        return
    if done.cancelled():
        reply.cancel()
    elif (exc := done.exception()) is not None:
        reply.set_exception(exc)
    else:
        reply.set_result(done.result())


def _consume(task: asyncio.Future[None]) -> None:
    """The error went to every caller of the batch; nothing is left to report."""
    if not task.cancelled():
        task.exception()


class _Reader:
    """One reader's position in one run's stream, and its keep-alive cadence."""

    def __init__(
        self, log: RedisEventLog, run_id: str, after: str | None, keepalive_s: float | None
    ) -> None:
        self._log = log
        self._run_id = run_id
        self._stream, self._meta = log._keys(run_id)
        self._position = after  # the id of the last event handed out
        self._next_n: int | None = None  # the n the next entry must carry
        self._keepalive_s = keepalive_s
        loop = asyncio.get_running_loop()
        self._time = loop.time
        self._tick_at = self._time() + keepalive_s if keepalive_s is not None else None

    def _tick_due(self) -> bool:
        if self._tick_at is None or self._keepalive_s is None or self._time() < self._tick_at:
            return False
        self._tick_at = max(self._tick_at + self._keepalive_s, self._time())
        return True

    async def batches(self, *, check_start: bool) -> AsyncIterator[Sequence[Event]]:
        events, finished = await self._replay(check_start=check_start)
        while True:
            if events:
                yield events
            if finished:
                return
            if self._tick_due():
                yield ()
            events, finished = await self._follow()

    async def _replay(self, *, check_start: bool) -> tuple[list[Event], bool]:
        """Everything after the position, with the checks only the hash can answer."""
        start = "-" if self._position is None else f"({self._position}"
        reply = await self._log._call(
            "read",
            lambda: self._log._read(keys=[self._stream, self._meta], args=[start, _BATCH]),
        )
        if reply is None:
            raise RunNotFound(f"no event log for run {self._run_id} (unknown or expired)")
        appended, dropped, entries = int(reply[0]), reply[1].decode(), reply[2]
        if check_start and dropped:
            self._check_not_dropped(parse_event_id(dropped))
        if not entries:
            self._next_n = appended + 1
        return self._take(entries)

    def _check_not_dropped(self, dropped: tuple[int, int]) -> None:
        if self._position is None:
            raise EventsExpired(f"the first events of run {self._run_id} are no longer retained")
        if parse_event_id(self._position) < dropped:
            # Events newer than the client's position were dropped: resuming
            # from the oldest retained one would silently skip them.
            raise EventsExpired(
                f"events after {self._position} of run {self._run_id} are no longer retained; "
                "re-read the thread state instead"
            )

    async def _follow(self) -> tuple[list[Event], bool]:
        """Block until entries follow the position, the next tick, or the idle re-check."""
        if self._tick_at is not None:
            wait_s = max(0.001, self._tick_at - self._time())
        else:
            wait_s = _IDLE_BLOCK_S
        position = self._position or "0-0"

        async def xread() -> Any:
            return await self._log._redis.xread(
                {self._stream: position}, count=_BATCH, block=max(1, round(wait_s * 1000))
            )

        reply = await self._log._call("read", xread)
        if not reply:
            if self._tick_at is None:
                # Idle for long: a reply-less wait cannot tell a deleted log
                # whose marker expired from a quiet one; the hash can.
                return await self._replay(check_start=False)
            return [], False
        return self._take(reply[0][1])

    def _take(self, entries: list[Entry]) -> tuple[list[Event], bool]:
        """Events of ``entries``; True once a marker ends the log. Each entry's
        ``n`` must be the one expected next, once the reader knows it."""
        events: list[Event] = []
        for raw_id, raw_fields in entries:
            fields = (
                raw_fields
                if isinstance(raw_fields, dict)
                else dict(zip(raw_fields[::2], raw_fields[1::2], strict=True))
            )
            if b"m" in fields:
                return events, True  # closed or deleted: nothing follows
            n = int(fields[b"n"])
            if self._next_n is not None and n != self._next_n:
                raise EventsExpired(
                    f"reader of run {self._run_id} fell behind: {n - self._next_n} events "
                    "were dropped before it read them"
                )
            event_id = raw_id.decode()
            events.append(Event(event_id, fields[b"e"].decode(), fields[b"d"]))
            self._position = event_id
            self._next_n = n + 1
        return events, False
