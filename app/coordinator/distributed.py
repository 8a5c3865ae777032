"""The distributed coordinator: Postgres rows for claims and turns, Redis for signals.

Every instance that shares one Postgres and one Redis shares one coordinator::

    claim(r)          INSERT INTO run_claims ... ON CONFLICT DO UPDATE ... WHERE the
                      old claim's lease ran out: one statement, one winner (the row
                      lock orders claimers), whether the run was never claimed or
                      its claimer died
    thread_lock(t)    a Redis lock (redis-py's: SET NX PX, released by token)
    thread_turn(t,r)  a thread_turns row at the run's creation position (runs.seq);
                      the lowest position of the thread holds the turn. Waiters
                      re-check when a "turn moved" signal arrives, and every
                      poll interval in case one was lost. Leaving (delete the
                      row, signal) runs in the background: the run's end event
                      does not wait for that commit
    slot()            a semaphore of this instance (the limit is per instance)
    cancel(r, a)      a pub/sub signal to every instance, and a note on the run's
                      claim that its owner's next lease renewal picks up if the
                      signal was lost
    leases            every lease_s / 3 the instance renews the claims and turns it
                      holds in two statements; rows whose lease ran out are the
                      instance's that died: its claims can be taken over
                      (``claimable``), its turns of runs that are no longer active
                      are deleted so the thread moves on

Times are Postgres's ``now()``: instances never compare their own clocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from psycopg.rows import DictRow
from redis.exceptions import LockError, LockNotOwnedError

from app.coordinator.base import CancelAction, CancelCallback
from app.coordinator.local import LocalCoordinator
from app.coordinator.signals import Signals
from app.redis_client import SharedRedis
from app.store.postgres import Pool

__all__ = ["DistributedCoordinator"]

log = logging.getLogger("switchyard.coordinator")

_CANCEL_ACTIONS: dict[str, CancelAction] = {"interrupt": "interrupt", "rollback": "rollback"}

_LEASE = "now() + %s * interval '1 second'"

# A turn asked for by a run that has no record (there is none in production)
# is ordered by the time it was asked for, after every stored run.
_INSERT_TURN = f"""
INSERT INTO thread_turns (thread_id, run_id, position, owner, expires_at)
VALUES (%s, %s, COALESCE((SELECT seq FROM runs WHERE run_id = %s), %s), %s, {_LEASE})
ON CONFLICT (thread_id, run_id)
DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
"""

_HEAD = """
SELECT run_id FROM thread_turns WHERE thread_id = %s ORDER BY position, run_id LIMIT 1
"""

_CLAIM = f"""
INSERT INTO run_claims (run_id, owner, expires_at) VALUES (%s, %s, {_LEASE})
ON CONFLICT (run_id) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at,
    cancel = NULL
WHERE run_claims.expires_at < now()
RETURNING run_id
"""

# Renew what we hold; hand back (and clear) the cancel requests left on it.
_RENEW_CLAIMS = f"""
UPDATE run_claims c SET expires_at = {_LEASE}, cancel = NULL
FROM (SELECT run_id, cancel FROM run_claims WHERE owner = %s AND run_id = ANY(%s) FOR UPDATE) old
WHERE c.run_id = old.run_id
RETURNING c.run_id, old.cancel
"""

_RENEW_TURNS = f"""
UPDATE thread_turns SET expires_at = {_LEASE} WHERE owner = %s AND run_id = ANY(%s)
"""

# Turns of dead instances whose runs need no recovery: nobody will ever
# release them, so they are dropped and their threads move on.
_REAP_TURNS = """
DELETE FROM thread_turns t WHERE t.expires_at < now()
AND NOT EXISTS (
    SELECT 1 FROM runs r WHERE r.run_id = t.run_id AND r.status IN ('pending', 'running')
)
RETURNING t.thread_id
"""

_REAP_CLAIMS = """
DELETE FROM run_claims c WHERE c.expires_at < now()
AND NOT EXISTS (
    SELECT 1 FROM runs r WHERE r.run_id = c.run_id AND r.status IN ('pending', 'running')
)
"""


class DistributedCoordinator:
    """``Coordinator`` across instances. ``await start()`` before use, ``close()`` after."""

    def __init__(
        self,
        *,
        pool: Pool,
        redis: SharedRedis,
        max_concurrency: int,
        lease_s: float = 10.0,
        poll_s: float | None = None,
    ) -> None:
        self._instance_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._pool = pool
        self._lease_s = lease_s
        self._renew_every_s = lease_s / 3
        self._poll_s = poll_s if poll_s is not None else self._renew_every_s
        self._slots = asyncio.Semaphore(max_concurrency)
        self._redis = redis
        self._local_locks = LocalCoordinator(max_concurrency=1)  # only its thread locks
        self._lock_timeout_s = 60.0
        self._claims: set[str] = set()  # held here: renewed by the lease loop
        self._turns: set[str] = set()  # run ids whose turn rows are held here
        self._turn_waiters: dict[str, set[asyncio.Future[None]]] = {}
        # run -> (callback, when it was registered, wall clock ns)
        self._cancel_callbacks: dict[str, list[tuple[CancelCallback, int]]] = {}
        # Runs whose cancel reached their callbacks here: the note left on the
        # claim for a lost signal must not deliver it a second time.
        self._cancelled: set[str] = set()
        self._last_ticket = 0
        self._signals = Signals(
            redis,
            sender=self._instance_id,
            on_cancel=self._deliver_cancel,
            on_turn=self._wake_thread,
            on_resync=self._wake_all,
        )
        self._leases: asyncio.Task[None] | None = None
        self._leaving: set[asyncio.Future[None]] = set()

    @property
    def instance_id(self) -> str:
        return self._instance_id

    @property
    def lease_s(self) -> float:
        return self._lease_s

    @property
    def signals(self) -> Signals:
        """The instances' signal channel, for other parts' notes (``Signals.note``)."""
        return self._signals

    async def start(self) -> None:
        await self._signals.start()
        self._leases = asyncio.create_task(self._keep_leases(), name="coordinator-leases")

    async def _rows(self, sql: str, params: Sequence[Any]) -> list[DictRow]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchall() if cursor.description else []

    # -- turns ----------------------------------------------------------------

    def thread_turn(self, thread_id: str, run_id: str) -> AbstractAsyncContextManager[None]:
        return self._turn(thread_id, run_id, self._ticket())

    def _ticket(self) -> int:
        """Nanoseconds now, strictly increasing in this process: the order of a
        turn asked for by a run without a record (only tests do that)."""
        self._last_ticket = max(time.time_ns(), self._last_ticket + 1)
        return self._last_ticket

    @asynccontextmanager
    async def _turn(self, thread_id: str, run_id: str, ticket: int) -> AsyncIterator[None]:
        await self._rows(
            _INSERT_TURN,
            (thread_id, run_id, run_id, ticket, self._instance_id, self._lease_s),
        )
        self._turns.add(run_id)
        try:
            await self._until_head(thread_id, run_id)
            yield
        finally:
            self._turns.discard(run_id)
            # Left in a task of its own: a cancel arriving now cannot leave the
            # row behind (the thread would wait for its lease to run out), and
            # the run's end event does not wait for the delete's commit and the
            # wake-up signal; the thread's next run waits for them either way.
            # close() waits for the turns still being left.
            leaving = asyncio.ensure_future(self._leave_turn(thread_id, run_id))
            self._leaving.add(leaving)
            leaving.add_done_callback(self._left)

    def _left(self, leaving: asyncio.Future[None]) -> None:
        self._leaving.discard(leaving)
        if not leaving.cancelled() and (exc := leaving.exception()) is not None:
            # Its lease runs out instead, and the reaper frees the thread.
            log.warning("could not leave a thread turn: %s", exc)

    async def _until_head(self, thread_id: str, run_id: str) -> None:
        loop = asyncio.get_running_loop()
        waiters = self._turn_waiters.setdefault(thread_id, set())
        try:
            while True:
                # Listen before looking: a wake-up between the two is not lost.
                wake: asyncio.Future[None] = loop.create_future()
                waiters.add(wake)
                try:
                    head = await self._rows(_HEAD, (thread_id,))
                    if head and head[0]["run_id"] == run_id:
                        return
                    await asyncio.wait((wake,), timeout=self._poll_s)
                finally:
                    waiters.discard(wake)
        finally:
            if not waiters:
                self._turn_waiters.pop(thread_id, None)

    async def _leave_turn(self, thread_id: str, run_id: str) -> None:
        await self._rows(
            "DELETE FROM thread_turns WHERE thread_id = %s AND run_id = %s", (thread_id, run_id)
        )
        self._wake_thread(thread_id)
        await self._signals.turn_moved(thread_id)

    def _wake_thread(self, thread_id: str) -> None:
        for wake in self._turn_waiters.get(thread_id, ()):
            if not wake.done():
                wake.set_result(None)

    def _wake_all(self) -> None:
        for thread_id in list(self._turn_waiters):
            self._wake_thread(thread_id)

    # -- slots and claims -------------------------------------------------------

    def slot(self) -> AbstractAsyncContextManager[None]:
        return self._slots

    @asynccontextmanager
    async def thread_lock(self, thread_id: str) -> AsyncIterator[None]:
        # Callers here queue on a local lock first: one of them at a time asks Redis.
        async with self._local_locks.thread_lock(thread_id):
            lock = self._redis.client.lock(
                f"{self._redis.prefix}lock:{{{thread_id}}}",
                timeout=self._lock_timeout_s,  # a dead holder's lock frees itself
                sleep=0.005,
                blocking_timeout=self._lock_timeout_s,
            )
            if not await lock.acquire():
                raise LockError(f"thread {thread_id} stayed locked for {self._lock_timeout_s:g} s")
            try:
                yield
            finally:
                # Our critical section is over either way. If the lock already
                # expired (or Redis lost the key, e.g. a restart), raising here
                # would turn a completed creation into a 500: log it instead.
                try:
                    await lock.release()
                except LockNotOwnedError:
                    log.warning("thread lock of %s was no longer held at release", thread_id)

    async def claim(self, run_id: str) -> bool:
        won = bool(await self._rows(_CLAIM, (run_id, self._instance_id, self._lease_s)))
        if won:
            self._claims.add(run_id)
        return won

    async def claimable(self, run_ids: Sequence[str]) -> list[str]:
        """Of ``run_ids``, those without a live claim: never claimed, released,
        or held by an instance whose lease ran out (it died)."""
        if not run_ids:
            return []
        held = await self._rows(
            "SELECT run_id FROM run_claims WHERE run_id = ANY(%s) AND expires_at >= now()",
            (list(run_ids),),
        )
        live = {row["run_id"] for row in held}
        return [run_id for run_id in run_ids if run_id not in live]

    async def release(self, run_id: str) -> None:
        self._claims.discard(run_id)
        self._cancelled.discard(run_id)
        # Whoever holds it, as the contract says: the run ended.
        await self._rows("DELETE FROM run_claims WHERE run_id = %s", (run_id,))

    # -- cancel signals -----------------------------------------------------------

    async def cancel(self, run_id: str, action: CancelAction) -> None:
        sent_ns = time.time_ns()
        if self._deliver_cancel(run_id, action, sent_ns):
            return  # watched here, where it executes: nobody else to tell
        await self._rows("UPDATE run_claims SET cancel = %s WHERE run_id = %s", (action, run_id))
        await self._signals.cancel(run_id, action, sent_ns)

    def on_cancel(self, run_id: str, callback: CancelCallback) -> Callable[[], None]:
        entry = (callback, time.time_ns())
        self._cancel_callbacks.setdefault(run_id, []).append(entry)

        def unsubscribe() -> None:
            entries = self._cancel_callbacks.get(run_id)
            if entries is not None and entry in entries:
                entries.remove(entry)
                if not entries:
                    del self._cancel_callbacks[run_id]
                    self._cancelled.discard(run_id)

        return unsubscribe

    def _deliver_cancel(
        self, run_id: str, action: str, sent_ns: int | None, *, again: bool = True
    ) -> bool:
        """Call the run's cancel callbacks registered before ``sent_ns`` (all when
        None); True if it had any. With ``again=False`` (the note left on a
        claim) a run already cancelled here is skipped."""
        known = _CANCEL_ACTIONS.get(action)
        if known is None:
            log.warning("ignoring cancel of run %s with unknown action %r", run_id, action)
            return False
        callbacks = [
            callback
            for callback, registered_ns in self._cancel_callbacks.get(run_id, ())
            if sent_ns is None or registered_ns <= sent_ns
        ]
        if not callbacks or (not again and run_id in self._cancelled):
            return bool(callbacks)
        self._cancelled.add(run_id)
        for callback in callbacks:
            callback(known)
        return True

    # -- leases -------------------------------------------------------------------

    async def _keep_leases(self) -> None:
        while True:
            await asyncio.sleep(self._renew_every_s)  # the renewal cadence, not a wait for state
            try:
                await self.renew()
            except Exception:
                log.exception("could not renew leases; retrying in %.1f s", self._renew_every_s)

    async def renew(self) -> None:
        """Renew this instance's claims and turns; act on cancels left on them;
        drop the turns of dead instances whose runs are over."""
        if self._claims:
            renewed = await self._rows(
                _RENEW_CLAIMS, (self._lease_s, self._instance_id, list(self._claims))
            )
            for row in renewed:
                if row["cancel"]:
                    self._deliver_cancel(row["run_id"], row["cancel"], None, again=False)
        if self._turns:
            await self._rows(_RENEW_TURNS, (self._lease_s, self._instance_id, list(self._turns)))
        reaped = await self._rows(_REAP_TURNS, ())
        await self._rows(_REAP_CLAIMS, ())
        for thread_id in {row["thread_id"] for row in reaped}:
            self._wake_thread(thread_id)
            await self._signals.turn_moved(thread_id)

    async def close(self) -> None:
        if self._leases is not None:
            self._leases.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._leases
            self._leases = None
        if self._leaving:
            await asyncio.gather(*self._leaving, return_exceptions=True)
        await self._signals.close()
        self._cancel_callbacks.clear()
