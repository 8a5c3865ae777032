"""The platform services beside the run engine: long-term store, thread purging
and TTL, crons, webhooks. ``create_app`` opens them in its lifespan::

    async with open_longterm_store(settings) as store:        # before the registry
        registry = GraphRegistry(..., store=store)
        ...RunManager...
        async with start_platform(settings, ..., store=store) as platform:
            yield

``start_platform`` starts the background loops (store TTL sweeper, thread
TTL sweeper, cron scheduler) and stops them, and any webhook deliveries
still in flight, on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from langgraph.store.base import BaseStore

from app.lifecycle.purge import ThreadPurger
from app.lifecycle.sweeper import ThreadSweeper
from app.platform.crons import CronScheduler
from app.platform.webhooks import Webhooks
from app.runs.manager import RunManager
from app.runs.resolver import AssistantResolver
from app.settings import Settings
from app.store import Storage

__all__ = ["Platform", "every", "start_platform"]

log = logging.getLogger("switchyard.platform")


@dataclass
class Platform:
    store: BaseStore
    purger: ThreadPurger
    sweeper: ThreadSweeper
    webhooks: Webhooks
    crons: CronScheduler
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


async def every(interval_s: float, work: Callable[[], Awaitable[object]], name: str) -> None:
    """Run ``work`` every ``interval_s`` until cancelled; a failure is logged,
    never ends the loop (the next round may succeed)."""
    while True:
        # A period between rounds of background work, not synchronisation.
        await asyncio.sleep(interval_s)
        try:
            await work()
        except Exception:
            log.exception("%s failed; retrying in %.3g s", name, interval_s)


@asynccontextmanager
async def start_platform(
    settings: Settings,
    *,
    storage: Storage,
    runs: RunManager,
    assistants: AssistantResolver,
    store: BaseStore,
) -> AsyncIterator[Platform]:
    purger = ThreadPurger(
        storage, cascade=runs.delete_thread, forget_ttl=storage.thread_ttls.forget
    )
    sweeper = ThreadSweeper(storage, storage.thread_ttls, purger, settings.threads)
    webhooks = Webhooks(settings.webhooks)
    assistants.add_check(webhooks.check)  # a refused webhook is a 422 at creation
    runs.end_hooks.append(webhooks.on_run_end)
    crons = CronScheduler(storage.crons, runs)
    platform = Platform(store=store, purger=purger, sweeper=sweeper, webhooks=webhooks, crons=crons)
    if settings.crons.enabled:
        platform.tasks.append(
            asyncio.create_task(
                every(settings.crons.poll_interval_s, crons.tick, "cron tick"), name="crons"
            )
        )
    platform.tasks.append(
        asyncio.create_task(
            every(settings.threads.sweep_interval_s, sweeper.sweep, "thread TTL sweep"),
            name="thread-ttl-sweeper",
        )
    )
    sweep_ttl = getattr(store, "sweep_ttl", None)  # LangGraph's SQLite and Postgres stores
    if sweep_ttl is not None:
        platform.tasks.append(
            asyncio.create_task(
                every(settings.store.ttl_sweep_interval_s, sweep_ttl, "store TTL sweep"),
                name="store-ttl-sweeper",
            )
        )
    try:
        yield platform
    finally:
        for task in platform.tasks:
            task.cancel()
        for task in platform.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        runs.end_hooks.remove(webhooks.on_run_end)
        await webhooks.aclose()
