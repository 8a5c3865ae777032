"""SqliteWriter: the first writes in flight go straight to the worker; writes
issued behind them share the next trip and commit; each caller resumes only
once its write is committed."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiosqlite
import pytest

from app.store.sqlite import _DIRECT_WRITES, SqliteWriter, connect
from tests.app.store.test_checkpointer import trips_counted


@dataclass
class Db:
    path: Path
    conn: aiosqlite.Connection
    writer: SqliteWriter

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
        yield Db(path, conn, SqliteWriter(conn))


def _insert(value: int) -> Callable[[sqlite3.Connection], int]:
    def work(db: sqlite3.Connection) -> int:
        db.execute("INSERT INTO items (value) VALUES (?)", (value,))
        return value

    return work


def _blocker(release: threading.Event) -> Callable[[sqlite3.Connection], int]:
    """A write that holds the worker thread until ``release`` is set."""

    def work(db: sqlite3.Connection) -> int:
        release.wait(10)
        return -1

    return work


async def test_writer_when_writes_issued_together_then_the_rest_share_one_trip(db: Db) -> None:
    with trips_counted(db.conn) as trips:
        results = await asyncio.gather(*(db.writer.write(_insert(n)) for n in range(10)))
        # Resumed: every write of the group is visible from elsewhere.
        assert db.committed() == list(range(10))
    assert results == list(range(10))
    # The first ones straight away (each its own trip), the rest together.
    assert trips == [_DIRECT_WRITES + 1]


async def test_writer_when_one_write_of_a_group_fails_then_it_fails_alone(db: Db) -> None:
    ahead = [db.writer.write(_insert(100 + n)) for n in range(_DIRECT_WRITES)]
    outcomes = await asyncio.gather(
        *ahead,
        db.writer.write(_insert(1)),  # these three queue behind, as one group
        db.writer.write(_insert(1)),  # UNIQUE: this one fails
        db.writer.write(_insert(2)),
        return_exceptions=True,
    )
    group = outcomes[_DIRECT_WRITES:]
    assert group[0] == 1
    assert isinstance(group[1], sqlite3.IntegrityError)
    assert group[2] == 2
    assert db.committed() == [1, 2, *(100 + n for n in range(_DIRECT_WRITES))]


async def test_writer_when_sequential_then_one_trip_each(db: Db) -> None:
    with trips_counted(db.conn) as trips:
        for n in range(3):
            assert await db.writer.write(_insert(n)) == n
            assert db.committed() == list(range(n + 1))
    assert trips == [3]


@pytest.mark.parametrize("count", [1, 5])
async def test_writer_when_drainer_cancelled_then_no_caller_waits_forever(
    db: Db, count: int
) -> None:
    first, second = threading.Event(), threading.Event()
    assert _DIRECT_WRITES == 2  # the two blockers take the direct slots
    direct = [
        asyncio.ensure_future(db.writer.write(_blocker(first))),
        asyncio.ensure_future(db.writer.write(_blocker(second))),
    ]
    await asyncio.sleep(0)  # both are in flight: the next writes queue
    queued = [asyncio.ensure_future(db.writer.write(_insert(n))) for n in range(count)]
    first.set()
    await direct[0]  # hands the queue to a drainer, whose trip waits behind `second`
    drainer = db.writer._drainer
    assert drainer is not None  # started, or about to: either way cancelled
    drainer.cancel()  # the loop going away, say
    outcomes = await asyncio.wait_for(asyncio.gather(*queued, return_exceptions=True), timeout=5)
    second.set()
    await direct[1]
    assert all(isinstance(o, ConnectionError) for o in outcomes)
