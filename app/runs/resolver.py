"""Assistants: one per registered graph, addressable by graph id or UUID.

The assistant id of a graph is ``uuid5(NAMESPACE, graph_id)``, the rule the
LangGraph server uses, so clients may send either spelling.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from app.errors import AssistantNotFound
from graphs.registry import GraphRegistry

__all__ = ["AssistantResolver", "assistant_id_for"]

NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")
# Assistants are derived from the registry, so they all "exist" since start.
_EPOCH = datetime.now(UTC)


def assistant_id_for(graph_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, graph_id))


class AssistantResolver:
    """Maps an assistant id (UUID) or a graph id to ``(graph_id, assistant_id)``."""

    def __init__(self, registry: GraphRegistry) -> None:
        self._registry = registry
        self._ids: tuple[str, ...] = ()
        self._by_id: dict[str, str] = {}

    def _index(self) -> dict[str, str]:
        ids = tuple(self._registry.ids())
        if ids != self._ids:  # rebuilt only when the registry changed
            self._by_id = {key: g for g in ids for key in (g, assistant_id_for(g))}
            self._ids = ids
        return self._by_id

    def resolve(self, assistant_id: str) -> tuple[str, str]:
        graph_id = self._index().get(assistant_id)
        if graph_id is None:
            raise AssistantNotFound(
                f"assistant {assistant_id!r} not found; known graphs: {self._registry.ids()}"
            )
        return graph_id, assistant_id_for(graph_id)

    def record(self, graph_id: str) -> dict[str, Any]:
        """The assistant as the LangGraph API shows it (a flow: its served version)."""
        served = self._registry.flow(graph_id)
        return {
            "assistant_id": assistant_id_for(graph_id),
            "graph_id": graph_id,
            "name": graph_id,
            "description": self._registry.description(graph_id),
            "config": {},
            "context": {},
            "metadata": {"created_by": "flow" if served else "system"},
            "version": served.version if served else 1,
            "created_at": _EPOCH,
            "updated_at": _EPOCH,
        }

    def all(self) -> list[dict[str, Any]]:
        return [self.record(graph_id) for graph_id in self._registry.ids()]
