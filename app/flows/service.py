"""``FlowService``: the one place flows change, keeping store and registry in step.

Every write validates first (all problems at once -> ``FlowInvalid``, 422),
then writes the store, then serves the new version from the registry. A
version served is never edited: ``PUT`` adds the next one, runs already
going keep theirs (``graphs.flows.catalog``).

At startup ``load`` serves every stored flow's latest version, then
upserts the flow files from settings: a file whose document differs from
the stored latest becomes a new version, an identical one changes nothing.

Several instances on one store: a write on one instance reaches the others
through ``reconcile`` (serve exactly what the store holds), which
``app.flows.peers`` runs when a peer announces a change. Listeners
(``listen``) run after every change, local or reconciled: the system
assistants and the router's targets follow the flows served.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from app.errors import FlowExists, FlowInvalid, FlowNotFound, InvalidInput, SwitchyardError
from app.store.flows import FlowRecord, FlowStore
from graphs.flows.document import FlowDocument, parse_flow_text
from graphs.flows.validate import FlowProblem, validate_flow
from graphs.registry import GraphRegistry

__all__ = ["FlowService", "flow_files"]

log = logging.getLogger("switchyard.flows")
_SUFFIXES = (".json", ".yaml", ".yml")


def flow_files(paths: Iterable[Path]) -> list[Path]:
    """The files named, with directories expanded to their flow files (sorted)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix in _SUFFIXES)
        else:
            found.append(path)
    return found


def _invalid(problems: Sequence[FlowProblem]) -> FlowInvalid:
    listed = [p.to_json() for p in problems]
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return FlowInvalid(f"invalid flow: {first.path}: {first.message}{more}", listed)


class FlowService:
    def __init__(
        self, store: FlowStore, registry: GraphRegistry, mcp_servers: Any | None = None
    ) -> None:
        self._store = store
        self._registry = registry
        self._mcp = mcp_servers  # anything with names(): checked only when given
        # Called after flows were created, changed or removed, here or (through
        # reconcile) on a peer: the system assistants and the router follow.
        self._listeners: list[Callable[[], Awaitable[None]]] = []
        # Told after a local write, so that peers reconcile (app.flows.peers).
        self.announce: Callable[[str], Awaitable[None]] | None = None
        # Store write + registry change, and reconcile, one at a time: a
        # reconcile that read the store before a local write must not serve
        # the older version after it.
        self._lock = asyncio.Lock()
        registry.flows.fetch = self._fetch  # a thread may resume on an older version

    def listen(self, listener: Callable[[], Awaitable[None]]) -> None:
        self._listeners.append(listener)

    async def _changed(self, flow_id: str | None = None) -> None:
        if flow_id is not None and self.announce is not None:
            await self.announce(flow_id)  # first: peers catch up while listeners run here
        for listener in self._listeners:
            try:
                await listener()
            except Exception:  # the flow is stored and served: say what lags, do not fail
                log.exception("a listener of flow changes failed")

    async def _fetch(self, flow_id: str, version: int) -> FlowDocument:
        try:
            record = await self._store.get(flow_id, version)
        except FlowNotFound as exc:
            raise LookupError(str(exc)) from None
        return FlowDocument.model_validate(record.document)

    # -- validation -------------------------------------------------------------

    def problems(self, data: Any, params: Mapping[str, Any] | None = None) -> list[FlowProblem]:
        """Every problem of ``data`` in this server: its components, graphs and servers."""
        own_id = data.get("id") if isinstance(data, dict) else None
        # Its own id counts as known: embedding itself is reported as a cycle on compile.
        graphs = {*self._registry.ids(), *([own_id] if isinstance(own_id, str) else [])}
        return validate_flow(
            data,
            self._registry.components(),
            graphs=graphs,
            mcp_servers=self._mcp.names() if self._mcp is not None else None,
            params=params,
        )

    def _checked(self, data: Any) -> FlowDocument:
        if not isinstance(data, dict):
            raise InvalidInput("a flow must be a JSON (or YAML) object")
        problems = self.problems(data)
        if problems:
            raise _invalid(problems)
        return FlowDocument.model_validate(data)

    # -- writes -----------------------------------------------------------------

    async def create(self, data: Any) -> FlowRecord:
        flow = self._checked(data)
        if self._registry.is_code_graph(flow.id):
            raise FlowExists(f"{flow.id!r} is the id of a code graph; choose another flow id")
        async with self._lock:
            record = await self._store.create(flow.id, flow.to_json())
            self._registry.put_flow(flow, record.version)
        await self._changed(flow.id)
        return record

    async def update(self, flow_id: str, data: Any) -> FlowRecord:
        if isinstance(data, dict):
            data = {"id": flow_id, **data}
            if data["id"] != flow_id:
                raise InvalidInput(f"the document's id {data['id']!r} is not {flow_id!r}")
        flow = self._checked(data)
        async with self._lock:
            record = await self._store.put(flow_id, flow.to_json())
            self._registry.put_flow(flow, record.version)
        await self._changed(flow_id)
        return record

    async def delete(self, flow_id: str) -> None:
        async with self._lock:
            if not await self._store.delete(flow_id):
                raise FlowNotFound(f"flow {flow_id!r} not found")
            self._registry.remove_flow(flow_id)
        await self._changed(flow_id)

    async def reconcile(self) -> bool:
        """Serve exactly the latest versions the store holds (a peer may have
        written it); listeners run if anything changed. True if it did."""
        async with self._lock:
            changed = self._apply(await self._store.latest())
        if changed:
            log.info("flows reconciled with the store: %s", ", ".join(changed))
            await self._changed()
        return bool(changed)

    def _apply(self, records: Sequence[FlowRecord]) -> list[str]:
        changed: list[str] = []
        stored = {r.flow_id: r for r in records}
        for flow_id in self._registry.flows.ids():
            if flow_id not in stored:
                self._registry.remove_flow(flow_id)
                changed.append(f"-{flow_id}")
        for record in records:
            served = self._registry.flow(record.flow_id)
            if served is not None and served.version == record.version:
                if served.flow.to_json() == record.document:
                    continue
                # Deleted and created again under the same id: another version 1.
                self._registry.remove_flow(record.flow_id)
            try:
                flow = FlowDocument.model_validate(record.document)
                self._registry.put_flow(flow, record.version)
            except ValueError as exc:  # e.g. a code graph here uses its id
                log.error("flow %r v%d not served: %s", record.flow_id, record.version, exc)
                continue
            changed.append(f"{record.flow_id}@v{record.version}")
        return changed

    # -- reads ------------------------------------------------------------------

    async def get(self, flow_id: str) -> dict[str, Any]:
        versions = await self._store.versions(flow_id)
        latest = versions[-1]
        return {
            **latest.to_json(),
            "versions": [
                {"version": r.version, "created_at": r.created_at} for r in reversed(versions)
            ],
        }

    async def version(self, flow_id: str, version: int) -> FlowRecord:
        return await self._store.get(flow_id, version)

    async def latest(self) -> list[FlowRecord]:
        return await self._store.latest()

    # -- startup ----------------------------------------------------------------

    async def load(self, files: Sequence[Path]) -> None:
        """Serve the stored flows, then upsert ``files``. A bad file stops startup."""
        self._apply(await self._store.latest())
        for path in flow_files(files):
            try:
                data = parse_flow_text(path.read_text(encoding="utf-8"))
                await self._upsert(data)
            except (OSError, ValueError, SwitchyardError) as exc:
                raise ValueError(f"flow file {path}: {exc}") from exc

    async def _upsert(self, data: Any) -> None:
        flow = self._checked(data)
        try:
            current = await self._store.get(flow.id)
        except FlowNotFound:
            await self.create(data)
            return
        if current.document != flow.to_json():
            await self.update(flow.id, data)
