"""The event log of each run: what every transport reads.

``base`` holds the contract (``Event``, ids, ``EventLog``), ``memory`` the
embedded backend, ``keepalive`` the one heartbeat cadence, ``factory`` the
choice of backend from settings.
"""

from app.events.base import Event, EventLog, parse_event_id
from app.events.memory import MemoryEventLog

__all__ = ["Event", "EventLog", "MemoryEventLog", "parse_event_id"]
