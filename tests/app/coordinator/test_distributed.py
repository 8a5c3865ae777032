"""What only the distributed coordinator has: leases that outlive no instance.

An instance "dies" here by stopping without releasing anything (``close``
stops its lease renewals), which is what a killed process leaves behind.
Leases are short (0.6 s) so the tests wait for real expiry, briefly.
"""

from __future__ import annotations

import asyncio

import pytest

from app.coordinator.distributed import DistributedCoordinator
from tests.support.instances import distributed_coordinators

LEASE_S = 0.6


@pytest.fixture
def urls(postgres_url: str, redis_target: tuple[str, str]) -> tuple[str, str, str]:
    redis_url, prefix = redis_target
    return postgres_url, redis_url, f"{prefix}leases:"


async def _until_claimable(coordinator: DistributedCoordinator, run_id: str) -> None:
    for _ in range(100):
        if await coordinator.claimable([run_id]):
            return
        await asyncio.sleep(LEASE_S / 4)  # leases run out on Postgres's clock: ask again
    raise AssertionError(f"{run_id} never became claimable")


async def test_claim_when_claimer_died_then_exactly_one_survivor_takes_it_over(
    urls: tuple[str, str, str],
) -> None:
    async with distributed_coordinators(*urls, max_concurrency=2, count=3, lease_s=LEASE_S) as (
        dead,
        b,
        c,
    ):
        assert await dead.claim("run-1")
        assert not await b.claim("run-1")
        await b.renew()  # a live instance's renewals never touch another's claim
        assert not await c.claim("run-1")
        await dead.close()  # no release: its lease is left to run out
        await _until_claimable(b, "run-1")
        results = await asyncio.gather(*(x.claim("run-1") for x in (b, c, b, c)))
        assert results.count(True) == 1


async def test_claim_when_claimer_alive_then_its_renewals_keep_the_claim(
    urls: tuple[str, str, str],
) -> None:
    async with distributed_coordinators(*urls, max_concurrency=2, lease_s=LEASE_S) as (a, b):
        assert await a.claim("run-1")
        for _ in range(4):  # well past one lease
            await asyncio.sleep(LEASE_S / 2)  # the pace of renewals, as the lease loop does
            await a.renew()
            assert await b.claimable(["run-1"]) == []


async def _leave_dead_turn(coordinator: DistributedCoordinator, run_id: str) -> None:
    """The turn row a killed instance leaves: first in line, lease run out."""
    async with coordinator._pool.connection() as conn:
        await conn.execute(
            "INSERT INTO thread_turns VALUES ('thread-1', %s, 0, 'dead', now())", (run_id,)
        )


async def test_turn_when_holder_died_and_its_run_is_over_then_next_waiter_gets_it(
    urls: tuple[str, str, str],
) -> None:
    async with distributed_coordinators(*urls, max_concurrency=2, lease_s=LEASE_S) as (a, b):
        await _leave_dead_turn(a, "run-1")  # run-1 has no active record
        async with asyncio.timeout(10), b.thread_turn("thread-1", "run-2"):
            pass  # a lease loop reaped the dead turn and woke the waiter


async def test_turn_when_holder_died_with_its_run_active_then_next_waits_for_recovery(
    urls: tuple[str, str, str],
) -> None:
    async with distributed_coordinators(*urls, max_concurrency=2, lease_s=LEASE_S) as (a, b):
        async with a._pool.connection() as conn:
            await conn.execute("DELETE FROM runs WHERE run_id = 'run-1'")
            await conn.execute(
                "INSERT INTO runs (run_id, thread_id, assistant_id, created_at, updated_at,"
                " status, metadata, multitask_strategy, kwargs)"
                " VALUES ('run-1', 'thread-1', 'a', now(), now(), 'running', '{}', 'enqueue', '{}')"
            )
        await _leave_dead_turn(a, "run-1")
        waiter = asyncio.create_task(_enter(b, "run-2"))
        done, _ = await asyncio.wait((waiter,), timeout=LEASE_S * 3)
        assert not done  # run-1 must be resumed before run-2 may go
        # Recovery takes the run (and so its turn) over, finishes it, leaves the turn.
        assert await a.claim("run-1")
        async with a.thread_turn("thread-1", "run-1"), a._pool.connection() as conn:
            await conn.execute("UPDATE runs SET status = 'success' WHERE run_id = 'run-1'")
        await asyncio.wait_for(waiter, 10)


async def _enter(coordinator: DistributedCoordinator, run_id: str) -> None:
    async with coordinator.thread_turn("thread-1", run_id):
        pass


async def test_close_when_turns_are_still_being_left_then_none_is_left_behind(
    urls: tuple[str, str, str],
) -> None:
    async with distributed_coordinators(*urls, max_concurrency=2, lease_s=LEASE_S) as (a, b):
        for n in range(20):
            async with a.thread_turn(f"thread-{n}", f"run-{n}"):
                pass
        # Leaving a turn finishes in the background; closing waits for it, so
        # a stopping instance makes no thread wait for a lease to run out.
        await a.close()
        async with b._pool.connection() as conn:
            cursor = await conn.execute("SELECT count(*) AS n FROM thread_turns")
            left = await cursor.fetchone()
    assert left is not None
    assert left["n"] == 0
