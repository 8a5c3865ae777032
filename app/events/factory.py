"""The event log the settings ask for: the one place a backend is chosen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.events.base import EventLog
from app.events.memory import MemoryEventLog
from app.settings import EventLogSettings

if TYPE_CHECKING:
    from app.redis_client import SharedRedis

__all__ = ["make_event_log"]


def make_event_log(settings: EventLogSettings, redis: SharedRedis | None = None) -> EventLog:
    """Redis Streams when the process has Redis (``SWITCHYARD_REDIS_URL``): every
    instance reads every run. Else memory, the embedded default: ids, replay
    and retention in this process."""
    if redis is not None:
        from app.events.redis import RedisEventLog  # the optional ``distributed`` extra

        return RedisEventLog(
            redis.client,
            prefix=redis.prefix,
            retention_s=settings.retention_s,
            max_events=settings.max_events,
            retry_s=redis.retry_s,
        )
    return MemoryEventLog(retention_s=settings.retention_s, max_events=settings.max_events)
