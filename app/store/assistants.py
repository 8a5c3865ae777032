"""Assistants with versions: the record, the ``AssistantStore`` contract, the memory store.

An assistant is a graph plus the config, context and metadata its runs start
with. Every change writes a new version; the assistant itself is always a
copy of one of its versions (the "latest", which ``set_latest`` may move back
to an older one). ``tests/app/store/test_assistants_contract.py`` runs one
suite against every implementation (memory, SQLite; Postgres plugs in the
same way).

Contract, for every implementation:

* ``create`` writes version 1 and raises ``AssistantExists`` for a taken id.
* ``update`` writes version ``max(version) + 1`` (never reuses a number, even
  after ``set_latest`` went back) and makes it the latest; ``metadata`` is
  merged key by key, every other field given replaces the old one.
* ``set_latest(id, n)`` copies version ``n`` into the assistant (its
  ``version`` becomes ``n``) without writing a version.
* ``versions`` lists newest version first; ``search`` sorts by any of
  ``SORT_KEYS`` and breaks ties by insertion order (later first when
  descending), and matches ``name`` as a case-insensitive substring.
* ``sync_system`` makes the per-graph system assistants exactly the given
  ones: each is inserted if missing (keeping its first ``created_at``), and a
  system assistant whose graph is no longer served is removed.
* Records come back as fresh objects: mutating one never changes the store.
"""

from __future__ import annotations

import dataclasses
import heapq
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from app.errors import AssistantNotFound, Conflict, InvalidInput
from app.store._common import (
    as_utc,
    check_page,
    contains,
    copy_json,
    json_filter,
    next_update_stamp,
)
from app.store.base import utcnow

__all__ = [
    "SORT_KEYS",
    "SYSTEM",
    "Assistant",
    "AssistantExists",
    "AssistantSortKey",
    "AssistantStore",
    "AssistantVersion",
    "MemoryAssistantStore",
    "check_sort",
]

AssistantSortKey = Literal["assistant_id", "graph_id", "name", "created_at", "updated_at"]
SORT_KEYS: frozenset[str] = frozenset(AssistantSortKey.__args__)  # type: ignore[attr-defined]
# ``metadata.created_by`` of the per-graph assistants the server makes itself.
SYSTEM = "system"
# What marks an assistant the server keeps: a code graph's, or a flow's (changed via /flows).
SERVER_KEPT = (SYSTEM, "flow")


class AssistantExists(Conflict):
    """An assistant with this id exists already."""


@dataclass(slots=True)
class Assistant:
    assistant_id: str
    graph_id: str
    name: str
    description: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    version: int = 1
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    @property
    def is_system(self) -> bool:
        """Kept by the server (a graph's or a flow's assistant): read-only here."""
        return self.metadata.get("created_by") in SERVER_KEPT

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def as_version(self) -> AssistantVersion:
        """This assistant's content as a version written now (``updated_at``)."""
        return AssistantVersion(
            assistant_id=self.assistant_id,
            version=self.version,
            graph_id=self.graph_id,
            name=self.name,
            description=self.description,
            config=copy_json(self.config),
            context=copy_json(self.context),
            metadata=copy_json(self.metadata),
            created_at=self.updated_at,
        )


@dataclass(slots=True)
class AssistantVersion:
    """One version of an assistant; ``created_at`` is when that version was written."""

    assistant_id: str
    version: int
    graph_id: str
    name: str
    description: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class AssistantStore(Protocol):
    async def create(self, assistant: Assistant) -> Assistant: ...

    async def get(self, assistant_id: str) -> Assistant | None: ...

    async def update(
        self,
        assistant_id: str,
        *,
        graph_id: str | None = None,
        config: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        name: str | None = None,
        description: str | None = None,
    ) -> Assistant: ...

    async def delete(self, assistant_id: str) -> bool: ...

    async def search(
        self,
        *,
        graph_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        name: str | None = None,
        limit: int = 10,
        offset: int = 0,
        sort_by: AssistantSortKey = "created_at",
        sort_order: Literal["asc", "desc"] = "desc",
    ) -> list[Assistant]: ...

    async def count(
        self,
        *,
        graph_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> int: ...

    async def versions(
        self,
        assistant_id: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> list[AssistantVersion]: ...

    async def set_latest(self, assistant_id: str, version: int) -> Assistant: ...

    async def sync_system(self, assistants: Sequence[Assistant]) -> None: ...


def check_sort(sort_by: str, sort_order: str, limit: int, offset: int) -> None:
    if sort_by not in SORT_KEYS:
        raise InvalidInput(f"cannot sort assistants by {sort_by!r}; use one of {sorted(SORT_KEYS)}")
    if sort_order not in ("asc", "desc"):
        raise InvalidInput(f"sort_order must be 'asc' or 'desc', not {sort_order!r}")
    check_page(limit, offset)


def name_matches(name: str, wanted: str | None) -> bool:
    return not wanted or wanted.lower() in name.lower()


def normalised(assistant: Assistant) -> Assistant:
    """A deep copy holding plain JSON and aware UTC times (what a database returns)."""
    return dataclasses.replace(
        assistant,
        config=copy_json(assistant.config),
        context=copy_json(assistant.context),
        metadata=copy_json(assistant.metadata),
        created_at=as_utc(assistant.created_at),
        updated_at=as_utc(assistant.updated_at),
    )


def _copy_version(version: AssistantVersion) -> AssistantVersion:
    return dataclasses.replace(
        version,
        config=copy_json(version.config),
        context=copy_json(version.context),
        metadata=copy_json(version.metadata),
    )


def from_version(current: Assistant, version: AssistantVersion, *, now: datetime) -> Assistant:
    """``current`` (id, created_at) carrying ``version``'s content, updated ``now``."""
    return Assistant(
        assistant_id=current.assistant_id,
        graph_id=version.graph_id,
        name=version.name,
        description=version.description,
        config=copy_json(version.config),
        context=copy_json(version.context),
        metadata=copy_json(version.metadata),
        version=version.version,
        created_at=current.created_at,
        updated_at=now,
    )


def updated(
    current: Assistant,
    *,
    version: int,
    now: datetime,
    graph_id: str | None,
    config: Mapping[str, Any] | None,
    context: Mapping[str, Any] | None,
    metadata: Mapping[str, Any] | None,
    name: str | None,
    description: str | None,
) -> Assistant:
    """The assistant after an ``update``: the rule every backend applies
    (``now`` must be after ``current.updated_at``)."""
    return Assistant(
        assistant_id=current.assistant_id,
        graph_id=graph_id or current.graph_id,
        name=name if name is not None else current.name,
        description=description if description is not None else current.description,
        config=copy_json(dict(config)) if config is not None else current.config,
        context=copy_json(dict(context)) if context is not None else current.context,
        metadata={**current.metadata, **copy_json(dict(metadata or {}))},
        version=version,
        created_at=current.created_at,
        updated_at=now,
    )


class MemoryAssistantStore:
    """``AssistantStore`` over dicts: the reference implementation."""

    def __init__(self) -> None:
        self._assistants: dict[str, Assistant] = {}  # insertion order breaks ties
        self._versions: dict[str, list[AssistantVersion]] = {}  # oldest first

    async def create(self, assistant: Assistant) -> Assistant:
        if assistant.assistant_id in self._assistants:
            raise AssistantExists(f"assistant {assistant.assistant_id} already exists")
        stored = normalised(dataclasses.replace(assistant, version=1))
        self._assistants[stored.assistant_id] = stored
        self._versions[stored.assistant_id] = [stored.as_version()]
        return normalised(stored)

    async def get(self, assistant_id: str) -> Assistant | None:
        stored = self._assistants.get(assistant_id)
        return None if stored is None else normalised(stored)

    def _existing(self, assistant_id: str) -> Assistant:
        stored = self._assistants.get(assistant_id)
        if stored is None:
            raise AssistantNotFound(f"assistant {assistant_id} not found")
        return stored

    async def update(
        self,
        assistant_id: str,
        *,
        graph_id: str | None = None,
        config: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        name: str | None = None,
        description: str | None = None,
    ) -> Assistant:
        current = self._existing(assistant_id)
        history = self._versions[assistant_id]
        new = updated(
            current,
            version=history[-1].version + 1,
            now=next_update_stamp(current.updated_at),
            graph_id=graph_id,
            config=config,
            context=context,
            metadata=metadata,
            name=name,
            description=description,
        )
        self._assistants[assistant_id] = new
        history.append(new.as_version())
        return normalised(new)

    async def delete(self, assistant_id: str) -> bool:
        self._versions.pop(assistant_id, None)
        return self._assistants.pop(assistant_id, None) is not None

    def _matching(
        self, graph_id: str | None, metadata: Mapping[str, Any] | None, name: str | None
    ) -> list[Assistant]:
        wanted = json_filter(metadata)
        return [
            a
            for a in self._assistants.values()
            if (graph_id is None or a.graph_id == graph_id)
            and name_matches(a.name, name)
            and contains(a.metadata, wanted)
        ]

    async def search(
        self,
        *,
        graph_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        name: str | None = None,
        limit: int = 10,
        offset: int = 0,
        sort_by: AssistantSortKey = "created_at",
        sort_order: Literal["asc", "desc"] = "desc",
    ) -> list[Assistant]:
        check_sort(sort_by, sort_order, limit, offset)
        matches = self._matching(graph_id, metadata, name)
        key = operator.attrgetter(sort_by)
        if sort_order == "desc":
            matches.reverse()  # later inserts win ties, as SQLite's rowid does
            page = heapq.nlargest(offset + limit, matches, key=key)
        else:
            page = heapq.nsmallest(offset + limit, matches, key=key)
        return [normalised(a) for a in page[offset:]]

    async def count(
        self,
        *,
        graph_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> int:
        return len(self._matching(graph_id, metadata, name))

    async def versions(
        self,
        assistant_id: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> list[AssistantVersion]:
        check_page(limit, offset)
        wanted = json_filter(metadata)
        newest_first = reversed(self._versions.get(assistant_id, []))
        found = [v for v in newest_first if contains(v.metadata, wanted)]
        return [_copy_version(v) for v in found[offset : offset + limit]]

    async def set_latest(self, assistant_id: str, version: int) -> Assistant:
        current = self._existing(assistant_id)
        chosen = next((v for v in self._versions[assistant_id] if v.version == version), None)
        if chosen is None:
            raise AssistantNotFound(f"assistant {assistant_id} has no version {version}")
        new = from_version(current, chosen, now=next_update_stamp(current.updated_at))
        self._assistants[assistant_id] = new
        return normalised(new)

    async def sync_system(self, assistants: Sequence[Assistant]) -> None:
        keep = {a.assistant_id for a in assistants}
        for stale in [a for a in self._assistants.values() if a.is_system]:
            if stale.assistant_id not in keep:
                await self.delete(stale.assistant_id)
        for assistant in assistants:
            existing = self._assistants.get(assistant.assistant_id)
            if existing is None:
                await self.create(assistant)
            elif existing.is_system and existing.description != assistant.description:
                # A flow's new version may describe it anew (search shows it).
                self._assistants[existing.assistant_id] = dataclasses.replace(
                    existing, description=assistant.description
                )
