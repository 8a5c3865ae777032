"""A thread's protocol events: the feed of its runs' logs, framed.

Every thread-protocol transport (SSE, WebSocket) reads this and only
filters and writes: one event model, framed once per connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from app.errors import AssistantNotFound
from app.services import Services
from app.store.base import Run
from app.transport.threads.feed import thread_feed
from app.transport.threads.frames import ProtocolEvent, RunFramer

__all__ = ["graph_name", "protocol_batches", "seq_of_event_id"]


def graph_name(services: Services, run: Run) -> str | None:
    try:
        return services.assistants.resolve(run.assistant_id)[0]
    except AssistantNotFound:
        return None  # its graph is no longer served; the run's events still frame


async def protocol_batches(
    services: Services, thread_id: str, since: int | None
) -> AsyncIterator[list[ProtocolEvent]]:
    """The thread's protocol events after ``since`` (see ``feed``), in batches
    as the logs give them; never empty (keep-alives are the transport's)."""
    framers: dict[str, RunFramer] = {}
    feed = thread_feed(
        runs=services.storage.runs,
        log=services.events,
        watch=services.runs.thread_watch,
        thread_id=thread_id,
        since=since,
    )
    async for batch in feed:
        out: list[ProtocolEvent] = []
        for item in batch:
            run_id = item.run.run_id
            framer = framers.get(run_id)
            if framer is None:
                framer = framers[run_id] = RunFramer(item.run, graph_name(services, item.run))
            framed = framer.frame(item.event, item.seq)
            if item.event.event == "end":
                del framers[run_id]
            if item.visible:
                out.extend(framed)
        if out:
            yield out


def seq_of_event_id(value: str) -> int | None:
    """The seq of a protocol ``event_id`` (``<run>:<ms>-<n>:<part>``), or None."""
    from app.transport.threads.cursor import seq_of

    _, _, rest = value.partition(":")
    log_id, _, _ = rest.rpartition(":")
    try:
        return seq_of(log_id)
    except ValueError:
        return None
