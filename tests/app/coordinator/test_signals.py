"""Signals between instances: notes on a topic reach every other instance, not the sender."""

from __future__ import annotations

import asyncio

from tests.support.instances import distributed_coordinators


async def test_note_when_sent_by_one_instance_then_others_listeners_get_it_and_sender_does_not(
    postgres_url: str, redis_target: tuple[str, str]
) -> None:
    redis_url, prefix = redis_target
    async with distributed_coordinators(
        postgres_url, redis_url, f"{prefix}notes:", max_concurrency=1
    ) as (a, b):
        heard: dict[str, asyncio.Queue[str | None]] = {"a": asyncio.Queue(), "b": asyncio.Queue()}
        a.signals.on_note("flows", heard["a"].put_nowait)
        b.signals.on_note("flows", heard["b"].put_nowait)
        b.signals.on_note("other", lambda payload: heard["b"].put_nowait(f"other:{payload}"))

        await a.signals.note("flows", "booking")
        assert await asyncio.wait_for(heard["b"].get(), 10) == "booking"
        # Pub/sub keeps each subscriber's order: had A heard its own note, it
        # would come before B's answer.
        await b.signals.note("flows", "from-b")
        assert await asyncio.wait_for(heard["a"].get(), 10) == "from-b"
        assert heard["a"].empty()
        assert heard["b"].empty()
