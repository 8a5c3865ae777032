"""The in-process coordinator: one process, nothing to share but memory.

Turns are one ``asyncio.Lock`` per busy thread (asyncio's locks are FIFO,
so runs of a thread execute in the order their turns were asked for), slots
one semaphore, claims a set, and cancel signals plain callbacks. Locks of
threads nobody waits on are dropped, so memory follows busy threads only.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from app.coordinator.base import CancelAction, CancelCallback

__all__ = ["LocalCoordinator"]


class LocalCoordinator:
    def __init__(self, *, max_concurrency: int) -> None:
        self._instance_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._turns: dict[str, asyncio.Lock] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._lockers: dict[str, int] = {}  # thread -> holders and waiters of its lock
        self._waiting: dict[str, int] = {}  # thread -> runs holding or awaiting its turn
        self._slots = asyncio.Semaphore(max_concurrency)
        self._claims: set[str] = set()
        self._cancel_callbacks: dict[str, list[CancelCallback]] = {}

    @property
    def instance_id(self) -> str:
        return self._instance_id

    def thread_turn(self, thread_id: str, run_id: str) -> AbstractAsyncContextManager[None]:
        return self._turn(thread_id)

    @asynccontextmanager
    async def _turn(self, thread_id: str) -> AsyncIterator[None]:
        lock = self._turns.get(thread_id)
        if lock is None:
            lock = self._turns[thread_id] = asyncio.Lock()
        self._waiting[thread_id] = self._waiting.get(thread_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            left = self._waiting[thread_id] - 1
            if left:
                self._waiting[thread_id] = left
            else:  # nobody holds or awaits this thread's turn
                del self._waiting[thread_id], self._turns[thread_id]

    def slot(self) -> AbstractAsyncContextManager[None]:
        return self._slots

    @asynccontextmanager
    async def thread_lock(self, thread_id: str) -> AsyncIterator[None]:
        lock = self._locks.get(thread_id)
        if lock is None:
            lock = self._locks[thread_id] = asyncio.Lock()
        self._lockers[thread_id] = self._lockers.get(thread_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            left = self._lockers[thread_id] - 1
            if left:
                self._lockers[thread_id] = left
            else:
                del self._lockers[thread_id], self._locks[thread_id]

    async def claimable(self, run_ids: Sequence[str]) -> list[str]:
        # Claims live in this process: a run of a previous process is never claimed here.
        return [run_id for run_id in run_ids if run_id not in self._claims]

    async def claim(self, run_id: str) -> bool:
        if run_id in self._claims:
            return False
        self._claims.add(run_id)
        return True

    async def release(self, run_id: str) -> None:
        self._claims.discard(run_id)

    async def cancel(self, run_id: str, action: CancelAction) -> None:
        for callback in list(self._cancel_callbacks.get(run_id, ())):
            callback(action)

    def on_cancel(self, run_id: str, callback: CancelCallback) -> Callable[[], None]:
        self._cancel_callbacks.setdefault(run_id, []).append(callback)

        def unsubscribe() -> None:
            callbacks = self._cancel_callbacks.get(run_id)
            if callbacks is not None and callback in callbacks:
                callbacks.remove(callback)
                if not callbacks:
                    del self._cancel_callbacks[run_id]

        return unsubscribe

    async def close(self) -> None:
        self._cancel_callbacks.clear()
