"""``POST /runs/cancel``: cancel many runs at once (``client.runs.cancel_many``).

Two ways to name the runs, as in LangGraph Server: by id (``run_ids``, with
or without the ``thread_id`` they are on), or by status (``status`` of
``pending``, ``running`` or ``all`` active runs, optionally on one
``thread_id``). A ``thread_id`` alone cancels every active run of that
thread. Runs that already ended are left as they are; an id that names no
run is a 404, so a typo is not mistaken for a run that finished.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from pydantic import model_validator

from app.errors import RunNotFound
from app.runs.manager import RunManager
from app.schemas import Strict
from app.store.base import Run

__all__ = ["CancelMany", "cancel_many"]


class CancelMany(Strict):
    thread_id: str | None = None
    run_ids: list[str] | None = None
    status: Literal["pending", "running", "all"] | None = None

    @model_validator(mode="after")
    def _names_runs(self) -> CancelMany:
        if self.status is not None and self.run_ids:
            raise ValueError("give either 'run_ids' or 'status', not both")
        if self.status is None and not self.run_ids and self.thread_id is None:
            raise ValueError("name the runs to cancel: 'run_ids', 'thread_id' or 'status'")
        return self


Visible = Callable[[Run], Awaitable[bool]]


async def _targets(runs: RunManager, body: CancelMany, visible: Visible | None) -> list[Run]:
    if body.run_ids:
        found: list[Run] = []
        for run_id in body.run_ids:
            run = await (
                runs.find(body.thread_id, run_id) if body.thread_id else runs.find_any(run_id)
            )
            if run is None or (visible is not None and not await visible(run)):
                where = f" on thread {body.thread_id}" if body.thread_id else ""
                raise RunNotFound(f"run {run_id} not found{where}")
            found.append(run)
        return found
    active = [await runs.find_any(run_id) for run_id in runs.active_run_ids(body.thread_id)]
    wanted = ("pending", "running") if body.status in (None, "all") else (body.status,)
    return [
        run
        for run in active
        if run is not None
        and run.status in wanted
        and (visible is None or await visible(run))  # another user's runs are not there
    ]


async def cancel_many(
    runs: RunManager,
    body: CancelMany,
    *,
    action: str = "interrupt",
    visible: Visible | None = None,
) -> list[str]:
    """Cancel the runs ``body`` names (of those ``visible`` lets the caller see);
    returns the ids of those asked to stop."""
    targets = await _targets(runs, body, visible)
    for run in targets:
        await runs.cancel(run.thread_id, run.run_id, action=action)
    return [run.run_id for run in targets]
