"""Flow documents and their versions: the ``FlowStore`` contract and its in-memory backend.

A flow is a list of versions, 1, 2, ...; ``create`` writes version 1,
``put`` the next one, ``delete`` drops them all (a flow created again
under the same id starts over at 1). Documents are stored as given (plain
JSON), validated before they get here.

Contract (``tests/app/store/test_flows_contract.py`` runs it on every backend):

* ``create`` of an existing id raises ``FlowExists``; ``put``, ``get`` and
  ``versions`` of an unknown id raise ``FlowNotFound``.
* ``put`` under concurrency never gives two writes the same version.
* ``get(id)`` is the latest version; ``get(id, version)`` any kept one.
* ``latest()`` lists each flow's latest version, by id.
* Records are fresh objects: changing one never changes the store.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from app.errors import FlowExists, FlowNotFound
from app.store.base import utcnow

__all__ = ["FlowRecord", "FlowStore", "MemoryFlowStore"]


@dataclass(slots=True)
class FlowRecord:
    flow_id: str
    version: int
    document: dict[str, Any]
    created_at: datetime = field(default_factory=utcnow)

    def to_json(self) -> dict[str, Any]:
        return {
            "flow_id": self.flow_id,
            "version": self.version,
            "document": self.document,
            "created_at": self.created_at,
        }


class FlowStore(Protocol):
    async def setup(self) -> None: ...

    async def create(self, flow_id: str, document: dict[str, Any]) -> FlowRecord: ...

    async def put(self, flow_id: str, document: dict[str, Any]) -> FlowRecord: ...

    async def get(self, flow_id: str, version: int | None = None) -> FlowRecord: ...

    async def versions(self, flow_id: str) -> list[FlowRecord]: ...

    async def latest(self) -> list[FlowRecord]: ...

    async def delete(self, flow_id: str) -> bool: ...


def _missing(flow_id: str, version: int | None = None) -> FlowNotFound:
    if version is None:
        return FlowNotFound(f"flow {flow_id!r} not found")
    return FlowNotFound(f"flow {flow_id!r} has no version {version}")


class MemoryFlowStore:
    def __init__(self) -> None:
        self._flows: dict[str, list[FlowRecord]] = {}

    async def setup(self) -> None:
        return None

    async def create(self, flow_id: str, document: dict[str, Any]) -> FlowRecord:
        if flow_id in self._flows:
            raise FlowExists(
                f"flow {flow_id!r} already exists; PUT /flows/{flow_id} adds a version"
            )
        record = FlowRecord(flow_id, 1, copy.deepcopy(document))
        self._flows[flow_id] = [record]
        return copy.deepcopy(record)

    async def put(self, flow_id: str, document: dict[str, Any]) -> FlowRecord:
        versions = self._flows.get(flow_id)
        if not versions:
            raise _missing(flow_id)
        record = FlowRecord(flow_id, versions[-1].version + 1, copy.deepcopy(document))
        versions.append(record)
        return copy.deepcopy(record)

    async def get(self, flow_id: str, version: int | None = None) -> FlowRecord:
        versions = self._flows.get(flow_id) or []
        if version is None and versions:
            return copy.deepcopy(versions[-1])
        found = next((r for r in versions if r.version == version), None)
        if found is None:
            raise _missing(flow_id, version)
        return copy.deepcopy(found)

    async def versions(self, flow_id: str) -> list[FlowRecord]:
        if flow_id not in self._flows:
            raise _missing(flow_id)
        return copy.deepcopy(self._flows[flow_id])

    async def latest(self) -> list[FlowRecord]:
        return [copy.deepcopy(self._flows[k][-1]) for k in sorted(self._flows)]

    async def delete(self, flow_id: str) -> bool:
        return self._flows.pop(flow_id, None) is not None
