"""Reject run input a graph cannot take, before the run is queued.

The check is on keys only: a typo (``{"mesages": ...}``) is a 422 naming the
allowed keys, while value types stay the graph's business (LangGraph coerces
e.g. role dicts into messages, which a strict schema check would refuse).
Keys come from ``graphs.schemas`` (also for ``typing.TypedDict`` state on
Python 3.11, which pydantic cannot read); only a graph without channels
(a bare Pregel) is not checked.
"""

from __future__ import annotations

from typing import Any

from app.errors import InputSchemaMismatch
from graphs.registry import GraphRegistry
from graphs.schemas import input_jsonschema, schema_keys

__all__ = ["InputKeys"]


class InputKeys:
    """The input keys of each graph, derived once per graph and cached."""

    def __init__(self, registry: GraphRegistry) -> None:
        self._registry = registry
        self._keys: dict[str, frozenset[str] | None] = {}

    async def _for(self, graph_id: str) -> frozenset[str] | None:
        if (served := self._registry.flow(graph_id)) is not None:
            return frozenset(served.flow.state)  # its declared channels, whatever the version
        if graph_id not in self._keys:
            graph = await self._registry.get(graph_id)
            self._keys[graph_id] = schema_keys(input_jsonschema(graph))
        return self._keys[graph_id]

    async def check(self, graph_id: str, value: Any) -> None:
        if value is None:
            return
        keys = await self._for(graph_id)
        if keys is None:
            return
        if not isinstance(value, dict):
            raise InputSchemaMismatch(
                f"input for graph '{graph_id}' must be an object with keys from {sorted(keys)}"
            )
        unknown = set(value) - keys
        if unknown:
            raise InputSchemaMismatch(
                f"input keys {sorted(unknown)} are not in graph '{graph_id}' input schema; "
                f"allowed keys: {sorted(keys)}"
            )
