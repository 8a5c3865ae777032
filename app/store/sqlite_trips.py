"""Every unit of work on one aiosqlite connection, batched into trips.

aiosqlite runs everything on one worker thread, in order; each call is a
*trip*: a hand-off to that thread and a wake-up of the event loop when it is
done. A stateful run made 17 trips, and they cost more than its SQL: at 20
concurrent runs, batching them (about 2 trips per run) took the server's CPU
per run from 2.8 to 2.3 ms.

``SqliteTrips`` hands the worker whole *units*: functions of the
``sqlite3.Connection`` that run there, between two trips, atomic with respect
to everything else on the connection (so a read-modify-write needs no lock).
Units issued during one event-loop iteration go together, in issue order, as
one trip, and if any of them writes, the trip ends with one commit. So
``asyncio.gather`` of a run's status change, its thread's and the read of
its start checkpoint is one trip, and under load the checkpoints of many runs
share one trip and one commit. A caller resumes only once its unit has run
and, for a write, is committed: nothing is less durable than one trip per
write. A unit that raises fails alone (a failed statement undoes itself);
if the commit fails, every write of the trip fails with it.

No unit waits for company: a trip leaves at the end of the loop iteration
its first unit was issued in.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import aiosqlite

__all__ = ["SqliteTrips"]

_T = TypeVar("_T")

Unit = Callable[[sqlite3.Connection], Any]
_Outcome = tuple[BaseException | None, Any]


class _Pending:
    """A unit waiting for its trip: what to run, whether it writes, who waits."""

    __slots__ = ("done", "unit", "writes")

    def __init__(self, unit: Unit, writes: bool, done: asyncio.Future[Any]) -> None:
        self.unit = unit
        self.writes = writes
        self.done = done


def _run_trip(db: sqlite3.Connection, units: list[tuple[Unit, bool]]) -> list[_Outcome]:
    """On the worker: each unit in order, then one commit if any wrote."""
    outcomes: list[_Outcome] = []
    for unit, _ in units:
        try:
            outcomes.append((None, unit(db)))
        except Exception as exc:  # e.g. a constraint: the statement undid itself
            outcomes.append((exc, None))
    if any(writes for _, writes in units):
        try:
            db.commit()
        except Exception as exc:  # none of this trip's writes stands
            db.rollback()
            return [
                (exc, None) if writes else outcome
                for (_, writes), outcome in zip(units, outcomes, strict=True)
            ]
    return outcomes


class SqliteTrips:
    """The one way onto ``conn``'s worker thread (see the module docstring).

    ``read`` and ``write`` return futures: ``await trips.read(unit)``.
    Cancelling a caller does not cancel its unit, which still runs (and, a
    write, commits) with its trip.
    """

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._next: list[_Pending] = []  # the trip that leaves this iteration

    def read(self, unit: Callable[[sqlite3.Connection], _T]) -> asyncio.Future[_T]:
        return self._add(unit, writes=False)

    def write(self, unit: Callable[[sqlite3.Connection], _T]) -> asyncio.Future[_T]:
        return self._add(unit, writes=True)

    def _add(self, unit: Unit, *, writes: bool) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        if not self._next:
            loop.call_soon(self._leave)
        self._next.append(_Pending(unit, writes, done))
        return done

    def _leave(self) -> None:
        trip, self._next = self._next, []
        units = [(pending.unit, pending.writes) for pending in trip]
        try:
            # ``_execute`` is aiosqlite's private entry to its worker (the
            # public calls are one statement each); a rename fails every
            # store test at once.
            execute = self._conn._execute(_run_trip, self._conn._conn, units)  # type: ignore[no-untyped-call]
        except ValueError:  # aiosqlite's word for a closed connection
            _fail(trip, ConnectionError("the SQLite connection is closed"))
            return
        ran = asyncio.ensure_future(execute)
        ran.add_done_callback(lambda ran: _settle(trip, ran))


def _settle(trip: list[_Pending], ran: asyncio.Future[list[_Outcome]]) -> None:
    if ran.cancelled():  # the loop is going away: nobody may wait forever
        _fail(trip, ConnectionError("the SQLite connection was stopped"))
        return
    if (failed := ran.exception()) is not None:
        _fail(trip, failed)
        return
    for pending, (error, value) in zip(trip, ran.result(), strict=True):
        if pending.done.done():
            continue  # its caller was cancelled; the unit ran regardless
        if error is not None:
            pending.done.set_exception(error)
        else:
            pending.done.set_result(value)


def _fail(trip: list[_Pending], error: BaseException) -> None:
    for pending in trip:
        if not pending.done.done():
            pending.done.set_exception(error)
