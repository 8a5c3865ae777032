"""Assistants as runs see them: which graph, which config, which context.

Two kinds of assistant:

* **system** assistants, one per served graph, read-only. Their id is
  ``uuid5(NAMESPACE, graph_id)``, the rule the LangGraph server uses, and the
  graph id itself is accepted as a spelling of it. They are resolved from
  the registry alone, without a storage trip, so the common case (a run that
  names a graph) costs nothing.
* **stored** assistants (``POST /assistants``), looked up in the
  ``AssistantStore``; their config and context are the base that a run's own
  config and context are merged over.

``for_run`` returns the run body with the assistant's config and context
merged in. The body is what a run record keeps (``Run.kwargs``), so a run
carries the assistant version it was created with: updating the assistant
afterwards does not change runs already created, queued ones included.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from app.errors import AssistantNotFound, InvalidInput
from app.schemas import RunCreate
from app.store.assistants import SYSTEM, Assistant, AssistantStore, MemoryAssistantStore
from graphs.registry import GraphRegistry

__all__ = ["AssistantResolver", "RunCheck", "assistant_id_for", "merge_config"]

NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")
# System assistants are derived from the registry, so they all "exist" since start.
_EPOCH = datetime.now(UTC)

# A check every run body passes before it is created (e.g. the webhook policy).
RunCheck = Callable[[RunCreate], Awaitable[None]]


def assistant_id_for(graph_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, graph_id))


def merge_config(base: dict[str, Any], over: dict[str, Any] | None) -> dict[str, Any]:
    """``over`` on top of ``base``: keys replace, ``configurable`` and ``metadata``
    merge key by key (a run's configurable overrides its assistant's)."""
    merged = {**base, **(over or {})}
    for nested in ("configurable", "metadata"):
        if nested in base or nested in (over or {}):
            merged[nested] = {**base.get(nested, {}), **(over or {}).get(nested, {})}
    return merged


class AssistantResolver:
    """Maps an assistant id (UUID) or a graph id to the assistant it names."""

    def __init__(
        self,
        registry: GraphRegistry,
        store: AssistantStore | None = None,
        checks: Sequence[RunCheck] = (),
    ) -> None:
        self._registry = registry
        self._store: AssistantStore = store if store is not None else MemoryAssistantStore()
        self._checks = list(checks)
        self._ids: tuple[str, ...] = ()
        self._by_id: dict[str, str] = {}

    @property
    def store(self) -> AssistantStore:
        return self._store

    def add_check(self, check: RunCheck) -> None:
        self._checks.append(check)

    def _index(self) -> dict[str, str]:
        ids = tuple(self._registry.ids())
        if ids != self._ids:  # rebuilt only when the registry changed
            self._by_id = {key: g for g in ids for key in (g, assistant_id_for(g))}
            self._ids = ids
        return self._by_id

    def resolve(self, assistant_id: str) -> tuple[str, str]:
        """``(graph_id, assistant_id)`` of a system assistant (no storage trip)."""
        graph_id = self._index().get(assistant_id)
        if graph_id is None:
            raise AssistantNotFound(
                f"assistant {assistant_id!r} not found; known graphs: {self._registry.ids()}"
            )
        return graph_id, assistant_id_for(graph_id)

    def is_system(self, assistant_id: str) -> bool:
        return assistant_id in self._index()

    def system_assistant(self, graph_id: str) -> Assistant:
        """The read-only assistant the server keeps for ``graph_id``."""
        served = self._registry.flow(graph_id)  # a flow: its served version
        return Assistant(
            assistant_id=assistant_id_for(graph_id),
            graph_id=graph_id,
            name=graph_id,
            description=self._registry.description(graph_id),
            metadata={"created_by": "flow" if served else SYSTEM},
            version=served.version if served else 1,
            created_at=_EPOCH,
            updated_at=_EPOCH,
        )

    def record(self, graph_id: str) -> dict[str, Any]:
        """The system assistant of ``graph_id`` as the LangGraph API shows it."""
        return self.system_assistant(graph_id).to_json()

    def all(self) -> list[dict[str, Any]]:
        return [self.record(graph_id) for graph_id in self._registry.ids()]

    async def sync_system(self) -> None:
        """Store one system assistant per served graph (and drop stale ones), so
        that search, count and sort see system and stored assistants alike."""
        await self._store.sync_system([self.system_assistant(g) for g in self._registry.ids()])

    async def lookup(self, assistant_id: str) -> Assistant:
        """The assistant, stored or system; ``AssistantNotFound`` otherwise."""
        graph_id = self._index().get(assistant_id)
        if graph_id is not None and self._registry.flow(graph_id):
            return self.system_assistant(graph_id)  # its version moves with the flow
        key = assistant_id_for(graph_id) if graph_id is not None else assistant_id
        found = await self._store.get(key)
        if found is not None:
            return found
        if graph_id is not None:  # served, but not synced into the store (yet)
            return self.system_assistant(graph_id)
        raise AssistantNotFound(
            f"assistant {assistant_id!r} not found; known graphs: {self._registry.ids()}"
        )

    def check_graph(self, graph_id: str) -> None:
        if graph_id not in self._registry.ids():
            raise InvalidInput(
                f"graph {graph_id!r} is not served; served graphs: {self._registry.ids()}"
            )

    async def for_run(self, body: RunCreate) -> tuple[RunCreate, str, str]:
        """``(body with the assistant's config/context merged in, graph_id, assistant_id)``."""
        for check in self._checks:
            await check(body)
        if self.is_system(body.assistant_id):
            graph_id, assistant_id = self.resolve(body.assistant_id)
            return body, graph_id, assistant_id
        assistant = await self.lookup(body.assistant_id)
        self.check_graph(assistant.graph_id)
        update: dict[str, Any] = {}
        if assistant.config:
            update["config"] = merge_config(assistant.config, body.config)
        if assistant.context:
            update["context"] = {**assistant.context, **(body.context or {})}
        merged = body.model_copy(update=update) if update else body
        return merged, assistant.graph_id, assistant.assistant_id
