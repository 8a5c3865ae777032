"""Flows by id and version, each (version, params) compiled exactly once.

The graph registry keeps one :class:`FlowCatalog` and serves its flows like
code graphs. Invariants:

* ``compile_count[(id, version, params_key)] <= 1`` while that entry is
  cached: concurrent first requests share one in-flight compile (a future),
  whichever request arrives first starts it. A failed compile is not cached,
  so a flow whose subgraph was missing compiles once it exists.
* ``put`` of a new version only changes what the *next* lookup gets: a run
  holds the compiled graph it started with, so it finishes on its version.
  Older versions' compiled graphs are dropped from the cache at once, and so
  are those of flows embedding it (they compile again, with the new one).
* An older version is compiled again on demand (``compiled(..., version=n)``,
  its document fetched through ``fetch``): a thread interrupted on version
  n resumes on version n, whatever is served now. At most ``max_old``
  older (version, params) compiles per flow stay cached.
* Every compiled flow is stamped: its runs' checkpoints carry
  ``flow_version`` (and ``flow_params``, canonical JSON, when the flow has
  params) in their metadata, which is how a continuing run finds the
  version and params its thread was left on (``app.flows.versions``).
* Per flow version at most ``max_variants`` param sets stay compiled (least
  recently used dropped first); a dropped set recompiles on its next use.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from langgraph.pregel import Pregel

from graphs.compiling import check_cycle, compiling
from graphs.flows.compiler import build_flow, compile_flow
from graphs.flows.components.base import ComponentError
from graphs.flows.components.catalog import ComponentCatalog
from graphs.flows.document import FlowDocument
from graphs.flows.params import params_key, resolve_params
from graphs.loader import GraphLoadError

__all__ = ["FLOW_PARAMS_META", "FLOW_VERSION_META", "FlowCatalog", "FlowFetch", "FlowVersion"]

T = TypeVar("T")
_Key = tuple[str, int, str]
# Checkpoint metadata keys the stamp writes (LangGraph copies scalar config
# metadata into every checkpoint the run writes).
FLOW_VERSION_META = "flow_version"
FLOW_PARAMS_META = "flow_params"


@dataclass(frozen=True)
class FlowVersion:
    flow: FlowDocument
    version: int


# Fetches a stored version of a flow (``LookupError`` if it is not kept).
FlowFetch = Callable[[str, int], Awaitable[FlowDocument]]


def _embeds(flow: FlowDocument, graph_id: str) -> bool:
    for node in flow.nodes:
        named = node.config.get("graph") if node.type == "subgraph" else None
        if named == graph_id or (isinstance(named, str) and "{{" in named):
            return True
    return False


class FlowCatalog(Generic[T]):
    """``finish`` turns a compiled flow into what callers get (the registry's two views)."""

    def __init__(
        self,
        components: Callable[[], ComponentCatalog],
        deps: Callable[[], Mapping[str, Any]],
        finish: Callable[[str, Pregel[Any, Any, Any, Any]], Awaitable[T]],
        *,
        max_variants: int = 64,
        max_old: int = 8,
    ) -> None:
        self._components = components
        self._deps = deps
        self._finish = finish
        self._max_variants = max_variants
        self._max_old = max_old
        # Set by whoever stores the flows; without it only served versions compile.
        self.fetch: FlowFetch | None = None
        self._current: dict[str, FlowVersion] = {}
        self._compiled: OrderedDict[_Key, asyncio.Future[T]] = OrderedDict()
        self.compile_count: dict[_Key, int] = {}

    # -- versions -------------------------------------------------------------

    def put(self, flow: FlowDocument, version: int) -> None:
        """Serve ``version`` of ``flow`` from now on (runs under way keep theirs)."""
        self._current[flow.id] = FlowVersion(flow, version)
        stale = self._embedding(flow.id)
        self._drop(lambda key: (key[0] == flow.id and key[1] != version) or key[0] in stale)

    def remove(self, flow_id: str) -> bool:
        stale = self._embedding(flow_id)
        self._drop(lambda key: key[0] == flow_id or key[0] in stale)
        return self._current.pop(flow_id, None) is not None

    def _embedding(self, changed: str) -> set[str]:
        """Flows that embed ``changed`` as a subgraph, directly or through others.

        Their compiled graphs hold the old one, so they are compiled again on
        next use (a subgraph named by a param placeholder counts as embedding
        anything).
        """
        stale: set[str] = set()
        frontier = [changed]
        while frontier:
            current = frontier.pop()
            for flow_id, entry in self._current.items():
                if flow_id not in stale and flow_id != changed and _embeds(entry.flow, current):
                    stale.add(flow_id)
                    frontier.append(flow_id)
        return stale

    def get(self, flow_id: str) -> FlowVersion | None:
        return self._current.get(flow_id)

    def ids(self) -> list[str]:
        return list(self._current)

    def __contains__(self, flow_id: object) -> bool:
        return flow_id in self._current

    def _drop(self, which: Callable[[_Key], bool]) -> None:
        for key in [key for key in self._compiled if which(key)]:
            del self._compiled[key]

    # -- compiling ------------------------------------------------------------

    async def compiled(
        self, flow_id: str, params: Mapping[str, Any] | None = None, *, version: int | None = None
    ) -> T:
        """The current version (or ``version``) compiled for ``params`` (defaults
        filled); once per key.

        Raises ``KeyError`` for an unknown flow, ``FlowParamsError`` for bad
        values, ``GraphLoadError`` when the flow (or that version) cannot be built.
        """
        entry = self._current[flow_id]
        if version is not None and version != entry.version:
            entry = await self._older(flow_id, version)
        resolved = resolve_params(entry.flow, params)
        key = (flow_id, entry.version, params_key(resolved))
        spec = f"flow:{flow_id}@v{entry.version}"
        check_cycle(flow_id, spec)
        while True:
            future = self._compiled.get(key)
            if future is None:
                return await self._first(entry, resolved, key, spec)
            self._compiled.move_to_end(key)
            try:
                return await asyncio.shield(future)
            except asyncio.CancelledError:
                # The request that was compiling went away (not this one): compile here.
                current = asyncio.current_task()
                if not future.cancelled() or (current is not None and current.cancelling()):
                    raise

    async def _older(self, flow_id: str, version: int) -> FlowVersion:
        spec = f"flow:{flow_id}@v{version}"
        if self.fetch is None:
            raise GraphLoadError(spec, "only the served version of this flow can run here")
        try:
            return FlowVersion(await self.fetch(flow_id, version), version)
        except LookupError as exc:
            raise GraphLoadError(spec, f"version {version} is no longer stored: {exc}") from exc

    async def _first(self, entry: FlowVersion, resolved: dict[str, Any], key: _Key, spec: str) -> T:
        """Compile for the first requester; later ones wait on the future."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._compiled[key] = future
        self._trim(key[0], key[1])
        self._trim_old(key[0])
        try:
            with compiling(key[0], spec):
                compiled = await self._build(entry, resolved, key, spec)
        except BaseException as exc:
            if self._compiled.get(key) is future:
                del self._compiled[key]  # not cached: the next request tries again
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # retrieved: waiters get it from the future, we raise it
            raise
        future.set_result(compiled)
        return compiled

    async def _build(self, entry: FlowVersion, resolved: dict[str, Any], key: _Key, spec: str) -> T:
        try:
            builder = await build_flow(
                entry.flow, resolved, components=self._components(), deps=self._deps()
            )
        except GraphLoadError as exc:  # a subgraph it embeds failed to load
            raise GraphLoadError(spec, f"depends on a graph that failed: {exc}") from exc
        except (ComponentError, ValueError, LookupError, TypeError) as exc:
            raise GraphLoadError(spec, str(exc)) from exc
        try:
            graph = compile_flow(builder, entry.flow.id)
        except ValueError as exc:  # LangGraph refuses the wiring
            raise GraphLoadError(spec, f"compile failed: {exc}") from exc
        stamp: dict[str, Any] = {FLOW_VERSION_META: entry.version}
        if resolved:
            stamp[FLOW_PARAMS_META] = key[2]
        graph = graph.with_config(metadata=stamp)
        self.compile_count[key] = self.compile_count.get(key, 0) + 1
        return await self._finish(entry.flow.id, graph)

    def _trim_old(self, flow_id: str) -> None:
        """Keep at most ``max_old`` compiles of versions no longer served."""
        served = self._current.get(flow_id)
        old = [
            k
            for k in self._compiled
            if k[0] == flow_id and (served is None or k[1] != served.version)
        ]
        for key in old[: max(0, len(old) - self._max_old)]:
            del self._compiled[key]

    def _trim(self, flow_id: str, version: int) -> None:
        variants = [k for k in self._compiled if k[0] == flow_id and k[1] == version]
        for key in variants[: max(0, len(variants) - self._max_variants)]:
            del self._compiled[key]
