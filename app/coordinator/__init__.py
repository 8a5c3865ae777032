"""Run coordination (thread turns, slots, claims, cancel signals): protocol + backends."""

from app.coordinator.base import CancelAction, CancelCallback, Coordinator
from app.coordinator.local import LocalCoordinator

__all__ = ["CancelAction", "CancelCallback", "Coordinator", "LocalCoordinator"]
