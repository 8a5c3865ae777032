"""Batch invocation: many stateless runs in one request, each on the normal run path.

Request body of ``POST /runs/batch/wait`` and ``POST /runs/batch/stream``::

    [<run body>, ...]                  a bare array (as ``POST /runs/batch`` takes), or
    {"items": [<run body>, ...],
     "max_concurrency": N,             items running at once; default and cap:
                                       the server's runs.max_concurrency
     "item_timeout_s": T}              an item not finished T s after it started
                                       is cancelled and reported as "timeout"

Each item is a stateless run-create body, exactly what ``POST /runs`` takes.
Between 1 and ``runs.max_batch_size`` items are accepted; otherwise the whole
request is a 422 that names the limit. Per item, the result is::

    {"index": i, "run_id": ..., "status": "success", "output": <final values>}
    {"index": i, "run_id": ..., "status": "error" | "timeout" | "interrupted",
     "error": {"error": <Type>, "message": ..., "code": ...}}

with ``"run_id": null`` for an item that never became a run (it did not
validate, or named an unknown assistant; the message says what to fix) and
``"thread_id"`` added for items with ``on_completion="keep"`` (joinable later).
One bad, failing or slow item never fails the batch.

Contracts:

* ``results_in_order`` answers in input order; ``results_as_completed``
  yields each result as its item ends (any order), invalid items first.
* Items run through ``RunManager.create`` + ``wait``, so they share the
  scheduler, the global concurrency limit and the executor with every other
  run. Items not kept run *ephemeral* (no thread/run records, no
  checkpoints): their result is delivered inline and nothing else could
  read those records, which is most of a small graph's per-run cost.
* The batch belongs to its request: cancelling the coroutine (the client
  went away) cancels every unfinished item; items not started never start.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import Field, ValidationError

from app.endpoints.http import describe_validation_error, validate
from app.errors import (
    InvalidInput,
    RunCancelled,
    RunNotFound,
    RunTimeout,
    SwitchyardError,
    error_body,
)
from app.events.keepalive import with_keepalive
from app.runs.manager import RunManager, RunOutcome
from app.schemas import RunCreate, Strict
from app.settings import RunSettings
from app.store.base import TERMINAL_RUN_STATUSES, Run

__all__ = [
    "STATUSES",
    "Batch",
    "BatchRequest",
    "BatchRunner",
    "ItemResult",
    "parse_batch",
    "summary",
]

# Terminal statuses an item can end with; the stream's summary counts each.
STATUSES = TERMINAL_RUN_STATUSES

_ORPHAN_CANCELS: set[asyncio.Task[None]] = set()


class BatchRequest(Strict):
    items: list[Any]
    max_concurrency: int | None = Field(None, ge=1)
    item_timeout_s: float | None = Field(None, gt=0)


@dataclass
class Batch:
    """A validated batch: per index, a run body or why it is not one."""

    items: list[RunCreate | InvalidInput]
    max_concurrency: int
    item_timeout_s: float | None


@dataclass(slots=True)
class ItemResult:
    index: int
    run_id: str | None
    status: str
    output: Any = None
    error: dict[str, Any] | None = None
    thread_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"index": self.index, "run_id": self.run_id, "status": self.status}
        if self.thread_id is not None:
            body["thread_id"] = self.thread_id
        if self.status == "success":
            body["output"] = self.output
        else:
            body["error"] = self.error
        return body


def _check_size(count: int, limit: int) -> None:
    if count == 0:
        raise InvalidInput(f"batch is empty; send between 1 and {limit} run bodies")
    if count > limit:
        raise InvalidInput(
            f"batch has {count} items; the limit is {limit} (runs.max_batch_size), "
            "split it into smaller batches"
        )


def _item(index: int, data: Any) -> RunCreate | InvalidInput:
    try:
        return validate(RunCreate, data)
    except InvalidInput as exc:
        return InvalidInput(f"items[{index}]: {exc.message}")


def parse_batch(data: Any, settings: RunSettings, *, options: bool = True) -> Batch:
    """The body of a batch request, checked as a whole; items are checked one by one.

    ``options=False`` (``POST /runs/batch``) allows only the bare array or
    ``{"items": [...]}``. Raises ``InvalidInput`` for a body that is not a
    batch or breaks a limit; an invalid item is returned in place, not raised.
    """
    if isinstance(data, list):
        request = BatchRequest(items=data)
    elif isinstance(data, dict):
        try:
            request = BatchRequest.model_validate(data)
        except ValidationError as exc:
            raise InvalidInput(describe_validation_error(exc)) from None
    else:
        raise InvalidInput(
            'batch body must be an array of run bodies or {"items": [...], '
            '"max_concurrency": N, "item_timeout_s": T}'
        )
    if not options and (request.max_concurrency or request.item_timeout_s):
        raise InvalidInput(
            "max_concurrency and item_timeout_s apply to /runs/batch/wait and "
            "/runs/batch/stream; POST /runs/batch takes only the run bodies"
        )
    _check_size(len(request.items), settings.max_batch_size)
    limit = settings.max_concurrency
    return Batch(
        items=[_item(i, data) for i, data in enumerate(request.items)],
        # Bounded by the server's limit rather than refused: asking for more
        # parallelism than the server grants is not an error in the request.
        max_concurrency=min(request.max_concurrency or limit, limit),
        item_timeout_s=request.item_timeout_s,
    )


class BatchRunner:
    """Runs a ``Batch`` on a ``RunManager``; one runner serves any number of batches."""

    def __init__(self, runs: RunManager, *, own_threads: bool = False) -> None:
        self._runs = runs
        # With auth on, a thread a kept item creates carries the item's
        # (authorized, owner-stamped) metadata, so its creator can read it.
        self._own_threads = own_threads

    def _thread_metadata(self, body: RunCreate) -> dict[str, Any] | None:
        return dict(body.metadata or {}) if self._own_threads else None

    async def start(self, batch: Batch) -> list[Run]:
        """``POST /runs/batch``: create every run (persisted, so each can be read and,
        with ``on_completion="keep"``, joined) and return them while they proceed."""
        invalid = [item.message for item in batch.items if isinstance(item, InvalidInput)]
        if invalid:
            raise InvalidInput("; ".join(invalid))
        runs: list[Run] = []
        for index, item in enumerate(batch.items):
            assert isinstance(item, RunCreate)
            try:
                runs.append(
                    await self._runs.create(
                        item, thread_id=None, thread_metadata=self._thread_metadata(item)
                    )
                )
            except SwitchyardError as exc:  # e.g. an unknown assistant: say which item
                created = f" (items before it were started: {len(runs)})" if runs else ""
                raise type(exc)(f"items[{index}]: {exc.message}{created}") from None
        return runs

    async def results_in_order(self, batch: Batch) -> list[ItemResult]:
        results: list[ItemResult | None] = [None] * len(batch.items)
        async for result in self.results_as_completed(batch):
            if result is not None:
                results[result.index] = result
        return [r for r in results if r is not None]

    async def results_as_completed(
        self, batch: Batch, *, keepalive_s: float | None = None
    ) -> AsyncIterator[ItemResult | None]:
        """Each item's result as it ends; with ``keepalive_s``, also None every
        ``keepalive_s`` seconds (busy or idle), for a transport's heartbeat."""
        runnable: list[tuple[int, RunCreate]] = []
        for index, item in enumerate(batch.items):
            if isinstance(item, InvalidInput):
                yield ItemResult(index, None, "error", error=error_body(item))
            else:
                runnable.append((index, item))
        if not runnable:
            return
        done: asyncio.Queue[ItemResult] = asyncio.Queue()
        # A pool of workers sharing one iterator, rather than a task per item
        # waiting on a semaphore: a 1,000-item batch costs N tasks, not 1,000.
        pending: Iterator[tuple[int, RunCreate]] = iter(runnable)

        async def worker() -> None:
            for index, body in pending:
                try:
                    result = await self._run_item(index, body, batch.item_timeout_s)
                except Exception as exc:  # a bug must cost one item, not hang the batch
                    result = ItemResult(index, None, "error", error=error_body(exc))
                done.put_nowait(result)

        workers = [
            asyncio.create_task(worker(), name="batch-worker")
            for _ in range(min(batch.max_concurrency, len(runnable)))
        ]

        async def finished() -> AsyncIterator[ItemResult]:
            for _ in runnable:
                yield await done.get()  # cancel-safe: nothing is lost

        try:
            async for result in with_keepalive(finished(), keepalive_s):
                yield result
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _run_item(self, index: int, body: RunCreate, timeout_s: float | None) -> ItemResult:
        keep = body.on_completion == "keep"
        try:
            run = await self._create(body, keep=keep)
        except SwitchyardError as exc:  # unknown assistant, input not fitting the graph
            return ItemResult(index, None, "error", error=error_body(exc))
        thread_id = run.thread_id if keep else None
        try:
            async with asyncio.timeout(timeout_s):
                outcome = await self._runs.wait(run.run_id)
        except TimeoutError:
            await self._cancel(run, wait=True)
            timeout = RunTimeout(f"item did not finish within item_timeout_s={timeout_s:g} s")
            return ItemResult(
                index, run.run_id, "timeout", error=error_body(timeout), thread_id=thread_id
            )
        except asyncio.CancelledError:
            await self._cancel(run, wait=False)
            raise
        return _result(index, run, outcome, thread_id)

    async def _create(self, body: RunCreate, *, keep: bool) -> Run:
        if not keep:
            # Nothing is stored before an ephemeral run is scheduled, and
            # scheduling never suspends: a cancellation leaves nothing behind.
            return await self._runs.create(body, thread_id=None, ephemeral=True)
        # A kept run is stored before it is scheduled; cancelling in between
        # would leave a pending record that no task will ever run. So the
        # creation always completes, and a run created for a batch that is
        # gone meanwhile is cancelled right away.
        creating = asyncio.ensure_future(
            self._runs.create(body, thread_id=None, thread_metadata=self._thread_metadata(body))
        )
        try:
            return await asyncio.shield(creating)
        except asyncio.CancelledError:
            creating.add_done_callback(self._cancel_orphan)
            raise

    def _cancel_orphan(self, creating: asyncio.Future[Run]) -> None:
        if creating.cancelled() or creating.exception() is not None:
            return
        task = asyncio.ensure_future(self._cancel(creating.result(), wait=False))
        _ORPHAN_CANCELS.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(_ORPHAN_CANCELS.discard)

    async def _cancel(self, run: Run, *, wait: bool) -> None:
        # RunNotFound: it ended (and was forgotten) meanwhile; nothing to stop.
        with contextlib.suppress(RunNotFound):
            await self._runs.cancel(run.thread_id, run.run_id, wait=wait)


def _result(index: int, run: Run, outcome: RunOutcome | None, thread_id: str | None) -> ItemResult:
    if outcome is None:  # not expected: wait() is called before the run can end
        gone = RunCancelled(f"the outcome of run {run.run_id} is no longer known")
        return ItemResult(index, run.run_id, "error", error=error_body(gone), thread_id=thread_id)
    if outcome.status == "success":
        return ItemResult(index, run.run_id, "success", output=outcome.output, thread_id=thread_id)
    error = outcome.error or error_body(RunCancelled(f"run ended with status {outcome.status}"))
    return ItemResult(index, run.run_id, outcome.status, error=error, thread_id=thread_id)


def summary(statuses: Iterable[str]) -> dict[str, Any]:
    """``{"total": n, "by_status": {status: count}}``, every terminal status listed."""
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return {"total": sum(counts.values()), "by_status": counts}
