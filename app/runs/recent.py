"""What the server remembers of stateless runs after they end.

A stateless run that is not kept leaves no record in storage, yet its client
may still GET it, ``/join`` it or resume its stream from the event log (the
SDK reconnects to ``Location`` after the run ended). ``RecentRuns`` keeps
what those need, and no more:

* the run record, with ``kwargs`` cut down to ``KEPT_KWARGS`` (resuming reads
  ``stream_mode``; the input, command, config and context are dropped: they
  can be as large as the body limit, and nothing reads them once the run ended);
* its outcome (status, error, and the output for ``/join``) for the newest
  ``max_outcomes`` runs, the output held as its JSON bytes (an
  ``orjson.Fragment``: no Python objects, and its size is known exactly).

Bounds, all three at once, so memory stays flat whatever the traffic:
``max_runs`` records, ``max_outcomes`` outputs, and ``max_bytes`` for the
lot, counted as JSON bytes plus ``ENTRY_OVERHEAD`` per record. Over the byte
budget, the oldest outputs go first (GET and resume keep working), then the
oldest records.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

import orjson

from app import serde
from app.store.base import Run, RunStatus

__all__ = ["ENTRY_OVERHEAD", "KEPT_KWARGS", "RecentRuns", "RunOutcome"]

# Run-create fields a finished stateless run still answers with (all small).
KEPT_KWARGS = ("assistant_id", "stream_mode", "stream_subgraphs", "stream_resumable",
               "on_disconnect", "on_completion", "multitask_strategy")  # fmt: skip
# What a record costs besides its JSON: the dataclasses, strings, datetimes
# and dict slots (measured ~0.9 KB with sys.getsizeof over a record's parts).
ENTRY_OVERHEAD = 1024


@dataclass
class RunOutcome:
    status: RunStatus
    output: Any = None
    error: dict[str, Any] | None = None
    execution_time: float = 0.0


@dataclass(slots=True)
class _Remembered:
    run: Run
    outcome: RunOutcome | None  # dropped once too old, or to fit the byte budget
    run_bytes: int
    outcome_bytes: int


def _slim(run: Run) -> Run:
    kwargs = {k: run.kwargs[k] for k in KEPT_KWARGS if k in run.kwargs}
    return dataclasses.replace(run, kwargs=kwargs)


def _frozen(outcome: RunOutcome) -> tuple[RunOutcome, int]:
    """The outcome with its output as JSON bytes, and what it weighs."""
    output = outcome.output
    size = 0
    if output is not None and not isinstance(output, orjson.Fragment):
        encoded = serde.dumps(output)
        size = len(encoded)
        output = orjson.Fragment(encoded)
    if outcome.error is not None:
        size += len(serde.dumps(outcome.error))
    return dataclasses.replace(outcome, output=output), size


class RecentRuns:
    def __init__(
        self, *, max_runs: int = 10_000, max_outcomes: int = 1_000, max_bytes: int = 64 << 20
    ) -> None:
        self._runs: OrderedDict[str, _Remembered] = OrderedDict()
        self._with_outcome: deque[_Remembered] = deque()
        self._max_runs = max_runs
        self._max_outcomes = max_outcomes
        self._max_bytes = max_bytes
        self.bytes = 0  # what is held now, as counted against max_bytes

    def __len__(self) -> int:
        return len(self._runs)

    def remember(self, run: Run, outcome: RunOutcome) -> None:
        self.forget(run.run_id)
        run = _slim(run)
        # orjson encodes the dataclass itself: the same bytes as its
        # ``to_json()`` (``dataclasses.asdict``), without asdict's deep copy
        # of every field (~100 µs a run, most of it copying datetimes).
        run_bytes = ENTRY_OVERHEAD + len(serde.dumps(run))
        kept, outcome_bytes = _frozen(outcome)
        remembered = _Remembered(run, kept, run_bytes, outcome_bytes)
        self._runs[run.run_id] = remembered
        self._with_outcome.append(remembered)
        self.bytes += run_bytes + outcome_bytes
        while len(self._runs) > self._max_runs:
            self._evict_oldest_run()
        while len(self._with_outcome) > self._max_outcomes:
            self._drop_outcome(self._with_outcome.popleft())
        while self.bytes > self._max_bytes and self._with_outcome:
            self._drop_outcome(self._with_outcome.popleft())
        while self.bytes > self._max_bytes and self._runs:
            self._evict_oldest_run()

    def _drop_outcome(self, remembered: _Remembered) -> None:
        if remembered.outcome is not None:
            remembered.outcome = None
            self.bytes -= remembered.outcome_bytes
            remembered.outcome_bytes = 0

    def _evict_oldest_run(self) -> None:
        _, remembered = self._runs.popitem(last=False)
        self._drop_outcome(remembered)  # its deque entry, if any, is now inert
        self.bytes -= remembered.run_bytes

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
        remembered = self._runs.pop(run_id, None)
        if remembered is not None:
            self._drop_outcome(remembered)
            self.bytes -= remembered.run_bytes
