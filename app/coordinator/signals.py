"""Signals between instances over Redis pub/sub: cancel requests, turn wake-ups, notes.

One channel (``<prefix>coord``) and one subscriber connection per instance.
Messages are small text frames::

    c|<sender>|<sent_ns>|<run_id>|<action>   cancel the run, wherever it executes
    t|<sender>|<thread_id>                   the thread's turn moved on: waiters re-check
    n|<sender>|<topic>|<payload>             a note on a topic for whoever listens to it
                                             (``flows``: a flow changed, app.flows.peers)

A sender handles its own signals directly, so it skips its own frames.
``sent_ns`` is the sender's wall clock: a cancel reaches the callbacks that
were registered before it was sent, not one registered while it was in
flight (a cancel for a run nobody watched is dropped, as the contract says).
Clocks of different machines may disagree by a few milliseconds; a cancel
misjudged that way is still delivered, by the note the coordinator leaves on
the run's claim.
Pub/sub delivers nothing sent while a subscriber is disconnected, so after
a reconnection ``on_resync`` runs: the coordinator re-checks every waiting
turn instead of trusting that it missed nothing; note listeners are called
with ``None`` (re-read whatever the note would have told). Turn waiters also re-check
on their own every poll interval, so a lost wake-up costs latency, never a
stuck thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from redis.asyncio.client import PubSub

from app.redis_client import TRANSIENT, SharedRedis

__all__ = ["Signals"]

log = logging.getLogger("switchyard.coordinator")


class Signals:
    def __init__(
        self,
        redis: SharedRedis,
        *,
        sender: str,
        on_cancel: Callable[[str, str, int], object],
        on_turn: Callable[[str], None],
        on_resync: Callable[[], None],
    ) -> None:
        self._redis = redis
        self._channel = f"{redis.prefix}coord"
        self._sender = sender
        self._on_cancel = on_cancel
        self._on_turn = on_turn
        self._on_resync = on_resync
        self._pubsub: PubSub | None = None
        self._task: asyncio.Task[None] | None = None
        self._notes: dict[str, list[Callable[[str | None], None]]] = {}

    def on_note(self, topic: str, callback: Callable[[str | None], None]) -> None:
        """Call ``callback(payload)`` for each peer's note on ``topic``, and
        ``callback(None)`` after a reconnection (notes may have been missed)."""
        self._notes.setdefault(topic, []).append(callback)

    async def note(self, topic: str, payload: str) -> None:
        """Tell every other instance's ``topic`` listeners (best effort, like wake-ups)."""
        await self._publish(f"n|{self._sender}|{topic}|{payload}")

    async def start(self) -> None:
        """Subscribe (signals sent after this returns are received), then listen."""
        self._pubsub = await self._subscribe()
        self._task = asyncio.create_task(self._listen(), name="coordinator-signals")

    async def _subscribe(self) -> PubSub:
        pubsub = self._redis.client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self._channel)
        return pubsub

    async def cancel(self, run_id: str, action: str, sent_ns: int) -> None:
        await self._publish(f"c|{self._sender}|{sent_ns}|{run_id}|{action}")

    async def turn_moved(self, thread_id: str) -> None:
        await self._publish(f"t|{self._sender}|{thread_id}")

    async def _publish(self, frame: str) -> None:
        try:
            await self._redis.client.publish(self._channel, frame)
        except TRANSIENT as exc:
            # A wake-up is an optimisation (waiters poll) and a cancel is also
            # recorded where the run's owner polls for it: never fail the caller.
            log.warning("could not publish %r: %s", frame[:1], exc)

    async def _listen(self) -> None:
        pause = 0.05
        while True:
            try:
                if self._pubsub is None:
                    self._pubsub = await self._subscribe()
                    self._on_resync()  # what was sent meanwhile is lost: re-check
                    for callbacks in self._notes.values():
                        for callback in callbacks:
                            callback(None)
                    pause = 0.05
                message = await self._pubsub.get_message(timeout=None)
            except TRANSIENT as exc:
                log.warning("coordinator signals disconnected (%s); reconnecting", exc)
                await self._drop_pubsub()
                await asyncio.sleep(pause)  # backoff between reconnection attempts
                pause = min(pause * 2, 1.0)
                continue
            if message is None or message.get("type") != "message":
                continue
            self._dispatch(message["data"])

    def _dispatch(self, data: bytes | str) -> None:
        frame = data.decode() if isinstance(data, bytes) else data
        kind, sender, rest = frame.split("|", 2)
        if sender == self._sender:
            return
        if kind == "c":
            sent_ns, run_id, action = rest.split("|", 2)
            self._on_cancel(run_id, action, int(sent_ns))
        elif kind == "t":
            self._on_turn(rest)
        elif kind == "n":
            topic, payload = rest.split("|", 1)
            for callback in self._notes.get(topic, ()):
                callback(payload)

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(*TRANSIENT):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._drop_pubsub()
