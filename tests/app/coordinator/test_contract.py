"""The coordinator contract (``app.coordinator.base``), for every backend.

Runs alternate between the pair's two coordinators wherever the contract
speaks of "whichever instance", so a distributed backend is checked across
instances by the very same tests.
"""

from __future__ import annotations

import asyncio

import pytest

from app.coordinator import CancelAction, Coordinator
from tests.app.coordinator.conftest import MAX_CONCURRENCY

Pair = tuple[Coordinator, Coordinator]


async def test_thread_turns_when_requested_in_order_then_run_one_at_a_time_in_order(
    coordinators: Pair,
) -> None:
    order: list[int] = []
    inside = 0
    most_inside = 0
    queued = [asyncio.Event() for _ in range(20)]

    async def run(index: int) -> None:
        nonlocal inside, most_inside
        coordinator = coordinators[index % 2]
        turn = coordinator.thread_turn("thread-1", f"run-{index}")
        queued[index].set()
        async with turn:
            inside += 1
            most_inside = max(most_inside, inside)
            order.append(index)
            await asyncio.sleep(0)  # yield inside the turn: nobody else may enter
            inside -= 1

    tasks = []
    for index in range(20):
        tasks.append(asyncio.create_task(run(index)))
        await queued[index].wait()  # turns are requested strictly in index order
    await asyncio.gather(*tasks)
    assert order == list(range(20))
    assert most_inside == 1


async def test_thread_turns_when_threads_differ_then_they_overlap(coordinators: Pair) -> None:
    a, b = coordinators
    both_inside = asyncio.Event()
    entered = 0

    async def run(coordinator: Coordinator, thread_id: str) -> None:
        nonlocal entered
        async with coordinator.thread_turn(thread_id, f"run-of-{thread_id}"):
            entered += 1
            if entered == 2:
                both_inside.set()
            await asyncio.wait_for(both_inside.wait(), timeout=5)

    await asyncio.gather(run(a, "thread-a"), run(b, "thread-b"))
    assert both_inside.is_set()


async def test_thread_turn_when_holder_fails_or_is_cancelled_then_next_gets_it(
    coordinators: Pair,
) -> None:
    a, b = coordinators
    holding = asyncio.Event()

    async def hold_forever() -> None:
        async with a.thread_turn("thread-1", "run-1"):
            holding.set()
            await asyncio.Event().wait()

    holder = asyncio.create_task(hold_forever())
    await holding.wait()
    # A failing run waits for its turn, then raises: the turn moves on.
    waiter = asyncio.create_task(_enter_and_fail(b))
    holder.cancel()
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(waiter, timeout=5)
    async with asyncio.timeout(5), a.thread_turn("thread-1", "run-3"):
        pass


async def _enter_and_fail(coordinator: Coordinator) -> None:
    async with coordinator.thread_turn("thread-1", "run-2"):
        raise RuntimeError("graph failed")


async def test_slots_when_more_runs_than_slots_then_at_most_the_limit_execute(
    coordinators: Pair,
) -> None:
    a, _ = coordinators
    inside = 0
    most_inside = 0
    release = asyncio.Event()
    full = asyncio.Event()

    async def run() -> None:
        nonlocal inside, most_inside
        async with a.slot():
            inside += 1
            most_inside = max(most_inside, inside)
            if inside == MAX_CONCURRENCY:
                full.set()
            await release.wait()
            inside -= 1

    tasks = [asyncio.create_task(run()) for _ in range(MAX_CONCURRENCY * 3)]
    await asyncio.wait_for(full.wait(), timeout=5)
    release.set()
    await asyncio.gather(*tasks)
    assert most_inside == MAX_CONCURRENCY


async def test_claim_when_many_claim_one_run_then_exactly_one_wins(coordinators: Pair) -> None:
    results = await asyncio.gather(*(coordinators[i % 2].claim("run-1") for i in range(20)))
    assert results.count(True) == 1
    assert await coordinators[1].claim("run-2") is True  # another run is unaffected
    await coordinators[0].release("run-1")
    assert await coordinators[1].claim("run-1") is True


async def test_cancel_when_sent_from_other_instance_then_watcher_called_with_action(
    coordinators: Pair,
) -> None:
    a, b = coordinators
    received: asyncio.Queue[CancelAction] = asyncio.Queue()
    unsubscribe = a.on_cancel("run-1", received.put_nowait)
    await b.cancel("run-1", "rollback")
    assert await asyncio.wait_for(received.get(), timeout=5) == "rollback"
    unsubscribe()
    await b.cancel("run-1", "interrupt")
    other: asyncio.Queue[CancelAction] = asyncio.Queue()
    a.on_cancel("run-2", other.put_nowait)
    await b.cancel("run-2", "interrupt")  # signals are ordered: run-1's would come first
    assert await asyncio.wait_for(other.get(), timeout=5) == "interrupt"
    assert received.empty()


async def test_cancel_when_nobody_watches_then_dropped(coordinators: Pair) -> None:
    a, b = coordinators
    await b.cancel("run-unknown", "interrupt")  # no error, nothing to reach
    received: asyncio.Queue[CancelAction] = asyncio.Queue()
    a.on_cancel("run-unknown", received.put_nowait)
    await b.cancel("run-other", "interrupt")
    assert received.empty()


async def test_instance_id_when_two_processes_then_distinct_names(coordinators: Pair) -> None:
    a, b = coordinators
    assert a.instance_id
    assert b.instance_id
    if a is not b:
        assert a.instance_id != b.instance_id
