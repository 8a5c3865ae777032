"""What the server remembers of stateless runs after they end.

A stateless run that is not kept leaves no record in storage, yet its client
may still GET it, ``/join`` it or resume its stream from the event log (the
SDK reconnects to ``Location`` after the run ended). ``RecentRuns`` keeps the
last ``max_runs`` such runs as they were when they ended, and the outcomes
(output, error) of the newest ``max_outcomes`` of them, since outputs can be
large. Both bounds make memory use constant, whatever the traffic.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from app.store.base import Run, RunStatus

__all__ = ["RecentRuns", "RunOutcome"]


@dataclass
class RunOutcome:
    status: RunStatus
    output: Any = None
    error: dict[str, Any] | None = None
    execution_time: float = 0.0


@dataclass(slots=True)
class _Remembered:
    run: Run
    outcome: RunOutcome | None  # dropped once older than the newest max_outcomes


class RecentRuns:
    def __init__(self, *, max_runs: int = 10_000, max_outcomes: int = 1_000) -> None:
        self._runs: OrderedDict[str, _Remembered] = OrderedDict()
        self._with_outcome: deque[_Remembered] = deque()
        self._max_runs = max_runs
        self._max_outcomes = max_outcomes

    def remember(self, run: Run, outcome: RunOutcome) -> None:
        remembered = self._runs[run.run_id] = _Remembered(run, outcome)
        if len(self._runs) > self._max_runs:
            self._runs.popitem(last=False)
        self._with_outcome.append(remembered)
        if len(self._with_outcome) > self._max_outcomes:
            self._with_outcome.popleft().outcome = None

    def get(self, run_id: str, *, thread_id: str | None = None) -> Run | None:
        """A copy of the run as it ended (on that thread, when given)."""
        remembered = self._runs.get(run_id)
        if remembered is None or thread_id not in (None, remembered.run.thread_id):
            return None
        return dataclasses.replace(remembered.run)

    def outcome(self, run_id: str) -> RunOutcome | None:
        remembered = self._runs.get(run_id)
        return remembered.outcome if remembered is not None else None

    def forget(self, run_id: str) -> None:
        self._runs.pop(run_id, None)
