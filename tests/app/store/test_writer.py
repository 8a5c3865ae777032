"""SqliteWriter: a lone write goes straight to the worker; writes issued while
one is in flight share the next trip and commit; each caller resumes only
once its write is committed."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from app.store.sqlite import _DIRECT_WRITES, SqliteWriter, connect
from tests.app.store.test_checkpointer import trips_counted


def _insert(value: int) -> Callable[[sqlite3.Connection], int]:
    def work(db: sqlite3.Connection) -> int:
        db.execute("INSERT INTO items (value) VALUES (?)", (value,))
        return value

    return work


def _committed(path: Path) -> list[int]:
    """What another connection sees: only committed rows."""
    with sqlite3.connect(path) as other:
        return [row[0] for row in other.execute("SELECT value FROM items ORDER BY value")]


def _table(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE items (value INTEGER UNIQUE)")


async def test_writer_when_writes_issued_together_then_the_rest_share_one_trip(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite"
    _table(path)
    async with connect(path) as conn:
        writer = SqliteWriter(conn)
        with trips_counted(conn) as trips:
            results = await asyncio.gather(*(writer.write(_insert(n)) for n in range(10)))
            # Resumed: every write of the group is visible from elsewhere.
            assert _committed(path) == list(range(10))
    assert results == list(range(10))
    # The first ones straight away (each its own trip), the rest together.
    assert trips == [_DIRECT_WRITES + 1]


async def test_writer_when_one_write_of_a_group_fails_then_it_fails_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite"
    _table(path)
    async with connect(path) as conn:
        writer = SqliteWriter(conn)
        outcomes = await asyncio.gather(
            writer.write(_insert(1)),
            writer.write(_insert(1)),  # UNIQUE: this one fails
            writer.write(_insert(2)),
            return_exceptions=True,
        )
    assert outcomes[0] == 1
    assert isinstance(outcomes[1], sqlite3.IntegrityError)
    assert outcomes[2] == 2
    assert _committed(path) == [1, 2]


async def test_writer_when_writes_keep_coming_then_later_ones_group_behind_the_busy_trip(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite"
    _table(path)
    async with connect(path) as conn:
        writer = SqliteWriter(conn)
        with trips_counted(conn) as trips:
            first = asyncio.ensure_future(writer.write(_insert(0)))
            await asyncio.sleep(0)  # the first write is on its way to the worker
            rest = [asyncio.ensure_future(writer.write(_insert(n))) for n in range(1, 20)]
            await asyncio.gather(first, *rest)
    assert _committed(path) == list(range(20))
    assert trips == [_DIRECT_WRITES + 1]


async def test_writer_when_sequential_then_one_trip_each(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    _table(path)
    async with connect(path) as conn:
        writer = SqliteWriter(conn)
        with trips_counted(conn) as trips:
            for n in range(3):
                assert await writer.write(_insert(n)) == n
                assert _committed(path) == list(range(n + 1))
    assert trips == [3]


def _blocker(release: threading.Event) -> Callable[[sqlite3.Connection], int]:
    """A write that holds the worker thread until ``release`` is set."""

    def work(db: sqlite3.Connection) -> int:
        release.wait(10)
        return -1

    return work


@pytest.mark.parametrize("count", [1, 5])
async def test_writer_when_drainer_cancelled_then_no_caller_waits_forever(
    tmp_path: Path, count: int
) -> None:
    path = tmp_path / "db.sqlite"
    _table(path)
    first, second = threading.Event(), threading.Event()
    async with connect(path) as conn:
        writer = SqliteWriter(conn)
        assert _DIRECT_WRITES == 2  # the two blockers take the direct slots
        direct = [
            asyncio.ensure_future(writer.write(_blocker(first))),
            asyncio.ensure_future(writer.write(_blocker(second))),
        ]
        await asyncio.sleep(0)  # both are in flight: the next writes queue
        queued = [asyncio.ensure_future(writer.write(_insert(n))) for n in range(count)]
        first.set()
        await direct[0]  # hands the queue to a drainer, whose trip waits behind `second`
        assert writer._drainer is not None  # started, or about to: either way cancelled
        writer._drainer.cancel()  # the loop going away, say
        outcomes = await asyncio.wait_for(
            asyncio.gather(*queued, return_exceptions=True), timeout=5
        )
        second.set()
        await direct[1]
    assert all(isinstance(o, ConnectionError) for o in outcomes)
