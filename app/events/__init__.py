"""The event log: what every transport reads (see ``app.events.memory`` for now)."""

from app.events.memory import Event, EventLog, MemoryEventLog, is_keyframe, parse_event_id, resume

__all__ = ["Event", "EventLog", "MemoryEventLog", "is_keyframe", "parse_event_id", "resume"]
