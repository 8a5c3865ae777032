"""One run's in-process handle: what the RunManager tracks while a run is alive."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from app.runs.recent import RunOutcome
from app.runs.steps import StepCounter
from app.schemas import RunCreate
from app.store.base import Run, RunStatus, utcnow

__all__ = ["RunHandle", "RunKind"]

RunKind = Literal["stored", "memory", "ephemeral"]


@dataclass
class RunHandle:
    run: Run
    body: RunCreate
    graph_id: str
    kind: RunKind = "stored"  # see app.runs.lifecycle
    protocol: bool = False  # started by the thread streaming protocol
    task: asyncio.Task[None] | None = None  # drives the run; done once the run has ended
    outcome: RunOutcome | None = None
    start_checkpoint_id: str | None = None
    cancel_action: str | None = None
    status_stored: bool = False  # a stored run's terminal status is written already
    attempt: int = 1  # more when the run was taken over after its worker died
    # What a ``memory`` run's record would say (stored runs keep it in storage).
    status: RunStatus = "pending"
    updated_at: datetime | None = None
    steps: StepCounter | None = None  # the run's progress while it executes

    async def ended(self) -> None:
        """Return once the run's task has finished, however it finished.

        Waits on the task itself rather than an ``asyncio.Event`` per run:
        open streams are mostly runs waiting, and each Event costs ~0.7 KB.
        A cancelled waiter does not cancel the run.
        """
        if self.task is not None and not self.task.done():
            await asyncio.wait((self.task,))

    def snapshot(self) -> Run:
        """A ``memory`` run as its record would read now."""
        return dataclasses.replace(
            self.run,
            status=self.status,
            updated_at=self.updated_at or self.run.updated_at,
            progress=self.progress(),
        )

    def progress(self) -> dict[str, Any] | None:
        return dict(self.steps.current) if self.steps is not None else None

    def cancel(self, action: str) -> None:
        """Stop the run's task (a cancel signal arrived); ``action`` says what follows."""
        self.cancel_action = action
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def set_status(self, status: RunStatus) -> None:
        self.status = status
        self.updated_at = utcnow()
