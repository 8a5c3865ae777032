"""Crash recovery: adopt the runs an instance that died left pending or running.

A stored run is claimed (``coordinator.claim``) before its record exists and
released when it ends. A run left pending or running by an instance that died
is claimable again: ``recover`` adopts it, and either resumes it from its
thread's last checkpoint with ``attempt + 1`` or fails it
(``RunSettings.recovery``). Embedded, that happens at startup; distributed,
every instance also looks every ``lease_s / 2`` (``recover_forever``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from app import serde
from app.coordinator import Coordinator
from app.errors import WorkerDied, error_body
from app.events import EventLog
from app.runs.driver import RunDriver
from app.runs.handle import RunHandle
from app.runs.resolver import AssistantResolver
from app.schemas import RunCreate
from app.settings import RunSettings
from app.store import Storage
from app.store.base import Run

__all__ = ["Recovery"]

log = logging.getLogger("switchyard.runs")


class Recovery:
    def __init__(
        self,
        *,
        settings: RunSettings,
        storage: Storage,
        events: EventLog,
        coordinator: Coordinator,
        assistants: AssistantResolver,
        driver: RunDriver,
    ) -> None:
        self._settings = settings
        self._storage = storage
        self._events = events
        self._coordinator = coordinator
        self._assistants = assistants
        self._driver = driver

    async def recover(self) -> list[str]:
        """Adopt the active runs nobody executes (their instance died, or this
        process before it restarted); returns their ids."""
        active = [
            r for r in await self._storage.runs.all_active() if r.run_id not in self._driver.handles
        ]
        if not active:
            return []
        orphans = set(await self._coordinator.claimable([r.run_id for r in active]))
        adopted: list[str] = []
        for run in active:  # oldest first: a thread's runs queue in creation order
            if run.run_id not in orphans or not await self._coordinator.claim(run.run_id):
                continue
            fresh = await self._storage.runs.get(run.run_id)
            if fresh is None or fresh.status not in ("pending", "running"):
                await self._driver.release(run.run_id)  # it ended while we looked
                continue
            try:
                await self._adopt(fresh)
            except Exception:
                log.exception("could not take over run %s", run.run_id)
                await self._driver.release(run.run_id)
                continue
            adopted.append(run.run_id)
        return adopted

    async def recover_forever(self, every_s: float) -> None:
        """``recover`` on a fixed cadence, for as long as the server runs."""
        while True:
            await asyncio.sleep(every_s)  # the cadence of the scan, not a wait for state
            try:
                adopted = await self.recover()
            except Exception:
                log.exception("crash recovery scan failed; next one in %.1f s", every_s)
                continue
            if adopted:
                log.warning("took over %d runs of a dead instance: %s", len(adopted), adopted)

    async def _adopt(self, run: Run) -> None:
        graph_id, _ = self._assistants.resolve(run.assistant_id)
        body = RunCreate.model_validate(run.kwargs)
        handle = RunHandle(run=run, body=body, graph_id=graph_id)
        if run.status == "running":  # it had started: some of it may be done
            handle.attempt = run.attempt + 1
            if self._settings.recovery == "fail":
                await self._fail_orphan(handle)
                return
            if await self._saved_progress(run):
                # Continue from the thread's last checkpoint: LangGraph runs
                # the pending tasks of the step it stopped in.
                fresh_start = dict.fromkeys(("input", "command", "checkpoint_id", "checkpoint"))
                handle.body = body.model_copy(update=fresh_start)
            handle.run = await self._storage.runs.set_status(
                run.run_id, "pending", attempt=handle.attempt
            )
        log.warning("taking over run %s (attempt %d)", run.run_id, handle.attempt)
        await self._driver.schedule(handle, self._driver.stored)

    async def _saved_progress(self, run: Run) -> bool:
        """Whether the thread's latest checkpoint was written by this run."""
        config: Any = {"configurable": {"thread_id": run.thread_id, "checkpoint_ns": ""}}
        saved = await self._storage.checkpointer.aget_tuple(config)
        return saved is not None and saved.metadata.get("run_id") == run.run_id

    async def _fail_orphan(self, handle: RunHandle) -> None:
        """``recovery = "fail"``: the run ends with an error that says why."""
        run = handle.run
        died = WorkerDied(
            f"the instance executing run {run.run_id} stopped (attempt {handle.attempt - 1});"
            " SWITCHYARD_RUNS_RECOVERY=fail leaves it failed"
        )
        await self._events.open(run.run_id)
        await self._storage.runs.set_status(run.run_id, "error", attempt=handle.attempt)
        await self._storage.threads.update(run.thread_id, status="error")
        await self._events.append(run.run_id, "error", serde.dumps(error_body(died)))
        await self._events.append(run.run_id, "end", serde.dumps(None))
        await self._events.close(run.run_id)
        await self._driver.release(run.run_id)
