"""Thread locks and claimable runs, for every coordinator backend (``coordinators``)."""

from __future__ import annotations

import asyncio

from app.coordinator import Coordinator

Pair = tuple[Coordinator, Coordinator]


async def test_thread_lock_when_contended_from_both_instances_then_one_holder_at_a_time(
    coordinators: Pair,
) -> None:
    inside = 0
    most_inside = 0
    entered = 0

    async def hold(coordinator: Coordinator) -> None:
        nonlocal inside, most_inside, entered
        async with coordinator.thread_lock("thread-1"):
            inside += 1
            entered += 1
            most_inside = max(most_inside, inside)
            await asyncio.sleep(0)  # yield while holding it: nobody else may enter
            inside -= 1

    await asyncio.gather(*(hold(coordinators[i % 2]) for i in range(10)))
    assert (entered, most_inside) == (10, 1)


async def test_thread_lock_when_threads_differ_then_held_at_once(coordinators: Pair) -> None:
    a, b = coordinators
    async with asyncio.timeout(10), a.thread_lock("thread-a"), b.thread_lock("thread-b"):
        pass


async def test_claimable_when_claimed_or_released_then_only_unclaimed_listed(
    coordinators: Pair,
) -> None:
    a, b = coordinators
    assert await b.claimable(["run-1", "run-2", "run-3"]) == ["run-1", "run-2", "run-3"]
    assert await a.claim("run-2")
    assert await b.claimable(["run-1", "run-2", "run-3"]) == ["run-1", "run-3"]
    await a.release("run-2")
    assert await b.claimable(["run-2"]) == ["run-2"]
    assert await b.claim("run-2")
    assert await b.claimable([]) == []
