"""Transports: how a run's event log reaches a client. They only frame."""
