"""Flows across instances: a change on one reaches the others at once.

Several instances share one store (Postgres). A flow written on instance A
is in the store, but B's registry, router and assistants are in B's memory.
A announces each change as a note on the coordinator's Redis signal channel
(``app.coordinator.signals``, topic ``flows``); B reconciles: it reads what
the store holds and serves exactly that (``FlowService.reconcile``).

Why signals rather than polling the store: a note arrives within
milliseconds, so a flow created on A is a router target on B by the time
a client could ask B (polling would trade that latency against a query per
instance per interval, for a rare event); several instances already
require Redis and the channel exists. The note carries no document, only
that something changed: the store stays the one truth, so a lost,
duplicated or reordered note can never serve a wrong version. Pub/sub drops
notes sent while a subscriber is reconnecting; the channel then calls
listeners with ``None`` and B reconciles anyway. A note whose publish failed
(Redis down at that moment) is covered by a slow safety poll (every
``SAFETY_POLL_S``). Notes arriving while a reconcile runs are coalesced
into one more reconcile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from app.flows.service import FlowService

if TYPE_CHECKING:
    from app.coordinator.signals import Signals

__all__ = ["SAFETY_POLL_S", "TOPIC", "FlowPeers", "flow_peers"]

TOPIC = "flows"
SAFETY_POLL_S = 30.0

log = logging.getLogger("switchyard.flows")


class FlowPeers:
    def __init__(
        self, service: FlowService, signals: Signals, *, poll_s: float = SAFETY_POLL_S
    ) -> None:
        self._service = service
        self._signals = signals
        self._poll_s = poll_s
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._signals.on_note(TOPIC, self._heard)
        self._service.announce = self._announce
        self._dirty.set()  # a change made between startup's load and the subscription
        self._task = asyncio.create_task(self._reconciling(), name="flow-peers")

    def _heard(self, payload: str | None) -> None:
        self._dirty.set()

    async def _announce(self, flow_id: str) -> None:
        await self._signals.note(TOPIC, flow_id)

    async def _reconciling(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), self._poll_s)
            self._dirty.clear()  # notes from now on ask for one more round
            try:
                await self._service.reconcile()
            except Exception:  # the store unreachable for now: the next note or poll retries
                log.exception("flows not reconciled with the store")

    async def close(self) -> None:
        self._service.announce = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


@asynccontextmanager
async def flow_peers(signals: Signals | None, service: FlowService) -> AsyncIterator[None]:
    """Keep ``service`` in step with its peers while open; nothing without ``signals``
    (one instance: nobody else writes its flows)."""
    if signals is None:
        yield
        return
    peers = FlowPeers(service, signals)
    await peers.start()
    try:
        yield
    finally:
        await peers.close()
