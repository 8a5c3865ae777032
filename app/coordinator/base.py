"""The coordinator: what runs share beyond one run, as a protocol.

Four things decide *when* and *where* a run executes, and none of them may
live only in one process's memory once several processes serve one API:

* **thread turns**: runs of one thread execute one at a time, in the order
  they were created (FIFO), whichever instance created them;
* **execution slots**: at most ``max_concurrency`` runs execute at once on an
  instance; the rest wait, pending;
* **run claims**: a run executes exactly once: one claimer wins;
* **cancel signals**: a cancel reaches the instance that executes the run;
* **thread locks**: a short critical section per thread across instances
  (a run's multitask check and its creation, so ``reject`` has one winner);
* **leases**: a claim lasts while its instance lives; runs whose claimer died
  are ``claimable`` again, which is how crash recovery finds them.

``RunManager`` talks to nothing else for these, so the in-process
implementation (``app.coordinator.local``) and a distributed one (Postgres
claims + Redis signals) are interchangeable. ``tests/app/coordinator``
holds the contract every implementation passes unchanged.

Contract, for every implementation:

* ``thread_turn(t, r)`` is entered by one run of thread ``t`` at a time, in
  the order the turns were requested; leaving it (normally, by an
  exception or by cancellation) hands the turn on;
* at most ``max_concurrency`` ``slot()`` holders at once on one instance;
* ``claim(r)`` is True for exactly one caller per run until ``release(r)``;
* ``cancel(r, action)`` calls every callback registered with ``on_cancel(r)``
  (on whichever instance registered it) with ``action``; a cancel for a run
  nobody watches is dropped (the caller checks the run's status itself);
  the unsubscribe function returned by ``on_cancel`` stops the callback;
* ``thread_lock(t)`` is held by one holder at a time per thread;
* ``claimable(ids)`` are the ids nobody holds a live claim on: never
  claimed, released, or claimed by an instance that died (its lease ran
  out); ``claim`` of such a run succeeds for exactly one caller.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Literal, Protocol

__all__ = ["CancelAction", "CancelCallback", "Coordinator"]

CancelAction = Literal["interrupt", "rollback"]
CancelCallback = Callable[[CancelAction], None]


class Coordinator(Protocol):
    @property
    def instance_id(self) -> str:
        """This instance's name in claims and logs (unique per process)."""
        ...

    def thread_turn(self, thread_id: str, run_id: str) -> AbstractAsyncContextManager[None]:
        """Held while the run executes; granted per thread in request order."""
        ...

    def slot(self) -> AbstractAsyncContextManager[None]:
        """One of this instance's execution slots."""
        ...

    def thread_lock(self, thread_id: str) -> AbstractAsyncContextManager[None]:
        """Held by one holder at a time per thread, across instances; keep it short."""
        ...

    async def claimable(self, run_ids: Sequence[str]) -> list[str]:
        """Of ``run_ids`` (order kept), those without a live claim."""
        ...

    async def claim(self, run_id: str) -> bool:
        """Take the run for this instance; True for exactly one caller."""
        ...

    async def release(self, run_id: str) -> None:
        """The run ended here: its claim is dropped."""
        ...

    async def cancel(self, run_id: str, action: CancelAction) -> None:
        """Deliver a cancel signal to whoever executes the run."""
        ...

    def on_cancel(self, run_id: str, callback: CancelCallback) -> Callable[[], None]:
        """Register ``callback`` for cancel signals of ``run_id``; returns unsubscribe."""
        ...

    async def close(self) -> None:
        """Stop background work and drop connections (idempotent)."""
        ...
