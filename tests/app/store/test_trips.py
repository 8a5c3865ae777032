"""SqliteTrips: units issued in one event-loop iteration share one trip to
aiosqlite's worker and one commit; each caller resumes only once its unit ran
and, for a write, is committed; one unit's failure is its own."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiosqlite
import pytest

from app.store.sqlite import connect
from app.store.sqlite_trips import SqliteTrips
from tests.app.store.test_checkpointer import trips_counted


@dataclass
class Db:
    path: Path
    conn: aiosqlite.Connection
    trips: SqliteTrips

    def committed(self) -> list[int]:
        """What another connection sees: only committed rows."""
        with sqlite3.connect(self.path) as other:
            rows = other.execute("SELECT value FROM items ORDER BY value")
            return [row[0] for row in rows]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Db]:
    path = tmp_path / "db.sqlite"
    with sqlite3.connect(path) as setup:
        setup.execute("CREATE TABLE items (value INTEGER UNIQUE)")
    async with connect(path) as conn:
        yield Db(path, conn, SqliteTrips(conn))


def _insert(value: int) -> Callable[[sqlite3.Connection], int]:
    def unit(db: sqlite3.Connection) -> int:
        db.execute("INSERT INTO items (value) VALUES (?)", (value,))
        return value

    return unit


def _count(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT COUNT(*) FROM items").fetchone()[0])


async def test_trips_when_units_issued_together_then_one_trip_in_issue_order(db: Db) -> None:
    with trips_counted(db.conn) as trips:
        results = await asyncio.gather(
            db.trips.read(_count),
            *(db.trips.write(_insert(n)) for n in range(10)),
            db.trips.read(_count),
        )
        # Resumed: every write of the trip is visible from elsewhere.
        assert db.committed() == list(range(10))
    # In issue order: the first read saw none of the writes, the last all.
    assert results == [0, *range(10), 10]
    assert trips == [1]


async def test_trips_when_issued_one_after_another_then_one_trip_each(db: Db) -> None:
    with trips_counted(db.conn) as trips:
        for n in range(3):
            assert await db.trips.write(_insert(n)) == n
            assert db.committed() == list(range(n + 1))
    assert trips == [3]


async def test_trips_when_one_unit_fails_then_it_fails_alone(db: Db) -> None:
    outcomes = await asyncio.gather(
        db.trips.write(_insert(1)),
        db.trips.write(_insert(1)),  # UNIQUE: this one fails
        db.trips.write(_insert(2)),
        db.trips.read(_count),
        return_exceptions=True,
    )
    assert outcomes[0] == 1
    assert isinstance(outcomes[1], sqlite3.IntegrityError)
    assert list(outcomes[2:]) == [2, 2]
    assert db.committed() == [1, 2]


async def test_trips_when_commit_fails_then_its_writes_fail_and_reads_stand(db: Db) -> None:
    def deferred_check(conn: sqlite3.Connection) -> None:
        conn.executescript(
            "PRAGMA foreign_keys = ON;"
            "CREATE TABLE parents (id INTEGER PRIMARY KEY);"
            "CREATE TABLE children (parent INTEGER"
            " REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED);"
        )

    def orphan(conn: sqlite3.Connection) -> None:
        # Accepted now, refused at COMMIT: the check is deferred to the end.
        conn.execute("INSERT INTO children (parent) VALUES (1)")

    await db.trips.write(deferred_check)
    inserted, orphaned, counted = await asyncio.gather(
        db.trips.write(_insert(7)),
        db.trips.write(orphan),
        db.trips.read(_count),
        return_exceptions=True,
    )
    assert isinstance(inserted, sqlite3.IntegrityError)
    assert isinstance(orphaned, sqlite3.IntegrityError)
    assert counted == 1  # what it read stands, though the trip's writes did not
    assert db.committed() == []
    assert await db.trips.write(_insert(8)) == 8  # the connection still works
    assert db.committed() == [8]


async def test_trips_when_caller_cancelled_then_its_write_still_commits(db: Db) -> None:
    release = threading.Event()
    blocking = db.trips.read(lambda _db: release.wait(10))  # holds the worker
    await asyncio.sleep(0)  # that trip has left; the next write is a trip of its own
    write = asyncio.ensure_future(db.trips.write(_insert(5)))
    await asyncio.sleep(0)
    write.cancel()
    release.set()
    assert await blocking is True
    assert await db.trips.read(_count) == 1  # trips run in order: the write ran first
    assert db.committed() == [5]


async def test_trips_when_connection_closed_then_callers_fail_rather_than_wait(
    tmp_path: Path,
) -> None:
    async with connect(tmp_path / "db.sqlite") as conn:
        trips = SqliteTrips(conn)
    with pytest.raises(ConnectionError, match="is closed"):
        await asyncio.wait_for(trips.read(lambda _db: 1), timeout=5)
