"""The ordered event log of each run: what every transport reads.

A run's executor appends ``(event, data)`` pairs; SSE, WebSocket, batch
streams and ``/wait`` all read the same log, so they can only differ in
framing. Event data is stored already serialised (one-line JSON bytes):
serialised once, framed many times.

Ids have the shape of Redis stream ids, ``"<unix ms>-<seq>"``, so the memory
backend and a Redis Streams backend can hand out the same kind of id.
Invariants, for every backend (``tests/app/test_events.py`` checks them):

* ids within a run are unique and strictly increasing (two events in the
  same millisecond get ``ms-0``, ``ms-1``; a clock that steps back does not
  make an id go back);
* ``read(run_id, after=X)`` yields exactly the events whose id is greater
  than ``X``, in order, then follows live events until the run's log is
  closed; a reader that starts after the close gets the retained tail;
* a log keeps at most ``max_events`` events (the oldest are dropped) and is
  forgotten ``retention_s`` after ``close``; reading a forgotten or unknown
  log raises ``RunNotFound``;
* a position that lies before a dropped event raises ``EventsExpired``
  rather than silently skipping the gap: ``after`` older than the newest
  dropped event, ``after=None`` once anything was dropped, or a reader that
  fell behind the trimming while following live. ``from_oldest=True`` is
  the explicit opt-out: start at the oldest retained event, whatever was
  dropped before it (what a resumer that can re-synchronise wants);
* ``read_batches`` yields the same events as ``read``, each batch holding
  everything already in the log, and with ``keepalive_s`` an empty batch
  every ``keepalive_s`` seconds on a fixed cadence, busy or idle (a
  transport's heartbeat; a Redis backend's ``XREAD BLOCK`` maps onto it).

Implementations: ``app.events.memory`` (one process) and, with
``SWITCHYARD_REDIS_URL``, a Redis Streams backend; ``app.events.factory`` picks one.
Transports read through ``app.transport.resume``, never ``read_batches`` directly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Event", "EventLog", "parse_event_id"]


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    event: str
    data: bytes  # one-line JSON


def parse_event_id(event_id: str) -> tuple[int, int]:
    """``"1700000000000-3"`` → ``(1700000000000, 3)``; raises ValueError if malformed."""
    ms, sep, seq = event_id.partition("-")
    if not sep or not ms.isdigit() or not seq.isdigit():
        raise ValueError(f"event id {event_id!r} is not of the form '<ms>-<seq>'")
    return int(ms), int(seq)


class EventLog(Protocol):
    @property
    def max_events(self) -> int:
        """Events retained per run. A writer that must stay recoverable after
        trimming (delta keyframes) repeats its state at least this often."""
        ...

    async def open(self, run_id: str) -> None:
        """Start an empty log for a run (idempotent)."""
        ...

    async def append(self, run_id: str, event: str, data: bytes) -> str:
        """Append one event; returns its id."""
        ...

    async def close(self, run_id: str) -> None:
        """No more events: readers finish once drained; retention starts."""
        ...

    def read(
        self, run_id: str, *, after: str | None = None, from_oldest: bool = False
    ) -> AsyncIterator[Event]:
        """Replay after ``after`` (all if None), then follow live until closed.

        ``from_oldest`` starts at the oldest retained event instead of raising
        ``EventsExpired`` for the start position (``after`` must be None).
        """
        ...

    def read_batches(
        self,
        run_id: str,
        *,
        after: str | None = None,
        from_oldest: bool = False,
        keepalive_s: float | None = None,
    ) -> AsyncIterator[Sequence[Event]]:
        """``read`` in batches: every event already in the log at once, so a
        transport writes what piled up in one go. With ``keepalive_s``, an
        empty batch every ``keepalive_s`` seconds (busy or idle), so the
        transport can keep its connection alive without a timer of its own.
        """
        ...

    async def delete(self, run_id: str) -> None:
        """Forget the log now; live readers stop."""
        ...
