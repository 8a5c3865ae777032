"""The event log the settings ask for: the one place a backend is chosen."""

from __future__ import annotations

from app.events.base import EventLog
from app.events.memory import MemoryEventLog
from app.settings import EventLogSettings

__all__ = ["make_event_log"]


def make_event_log(settings: EventLogSettings) -> EventLog:
    """Memory, the embedded default: ids, replay and retention in this process."""
    return MemoryEventLog(retention_s=settings.retention_s, max_events=settings.max_events)
