"""The graph registry: load ``langgraph.json`` specs, compile each graph once.

A config file looks like LangGraph's own::

    {"graphs": {"chat": "./agent.py:graph",
                "mail": "my_pkg.mail:build",
                "docs": {"path": "./docs.py:make", "description": "..."}},
     "dependencies": ["."]}

Paths are relative to the config file. The config's directory (unless it is
itself a package, whose modules import by their dotted name) and its local
``dependencies`` go on ``sys.path`` so user modules import each other.

A spec names a ``StateGraph`` builder, a compiled graph, or a factory (sync
or async) returning either. A factory receives dependencies by parameter
name from ``deps`` (``registry`` is always available); a required parameter
nobody supplies is a load error naming it.

Invariants:

* ``compile_count[id] <= 1``: a graph is compiled at most once per registry
  (per ``recompile``, which only ``auto`` needs when flows change),
  even under concurrent first ``get`` calls (one ``asyncio.Lock`` per id, so
  a factory may itself ``get_subgraph`` another graph without deadlock).
* ``get(id)`` and ``get_subgraph(id)`` are two views of the same compile:
  the first carries the registry's checkpointer, the second none, so that as
  a node of another graph it inherits its parent's.
* A graph that failed to load stays failed (listed in ``failed``, left out
  of ``ids()``); it is not re-imported on every request.

Flows (``graphs.flows``) are graphs too: ``put_flow`` serves a version of a
flow document under its id, ``get(id, params=...)`` compiles it once per
(version, params) through the registry's :class:`FlowCatalog`, with the
same checkpointer and dependencies as code graphs. A flow id may not reuse
a code graph's id.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel
from langgraph.store.base import BaseStore
from pydantic import BaseModel, ConfigDict, ValidationError

from graphs.compiling import check_cycle, compiling
from graphs.flows.catalog import FlowCatalog, FlowVersion
from graphs.flows.components.catalog import ComponentCatalog
from graphs.flows.document import FlowDocument
from graphs.loader import GraphLoadError, import_target

__all__ = [
    "GraphConfigError",
    "GraphLoadError",
    "GraphRegistry",
    "GraphSpec",
    "GraphsFailedToLoad",
    "UnknownGraph",
    "read_auth_spec",
]

_BUILTIN_CONFIG = Path(__file__).with_name("langgraph.json")


class GraphConfigError(GraphLoadError):
    """A config file is unreadable or invalid (``spec`` is the file's path)."""


class GraphsFailedToLoad(GraphLoadError):
    """Several specs failed at startup: one message naming each, and why."""

    def __init__(self, failures: Sequence[tuple[str, GraphLoadError]]) -> None:
        self.failures = list(failures)
        lines = [f"  - {graph_id}: {exc}" for graph_id, exc in self.failures]
        count = f"{len(lines)} graph{'s' if len(lines) != 1 else ''}"
        super().__init__(
            ", ".join(graph_id for graph_id, _ in self.failures),
            f"{count} failed to load (fix them, or set SWITCHYARD_SKIP_BROKEN=true "
            "to serve the others):\n" + "\n".join(lines),
        )

    def __str__(self) -> str:
        return self.reason


class UnknownGraph(KeyError):
    """No graph is registered under this id."""

    def __init__(self, graph_id: str) -> None:
        super().__init__(graph_id)
        self.graph_id = graph_id

    def __str__(self) -> str:
        return f"unknown graph {self.graph_id!r}"


@dataclass(frozen=True)
class GraphSpec:
    graph_id: str
    spec: str  # the string as written in the config, for error messages
    config_path: Path
    description: str | None = None
    # Directories put on sys.path before importing this spec.
    search_paths: tuple[Path, ...] = ()


class _GraphEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    description: str | None = None


class _ConfigFile(BaseModel):
    # langgraph.json has many more keys (env, python_version, ...); they are
    # not ours to judge.
    model_config = ConfigDict(extra="ignore")
    graphs: dict[str, str | _GraphEntry]
    dependencies: list[str] = []
    auth: dict[str, Any] | None = None  # LangGraph custom auth: {"path": "./auth.py:auth"}


def _search_paths(config_path: Path, dependencies: Sequence[str]) -> tuple[Path, ...]:
    base = config_path.parent
    paths = [] if (base / "__init__.py").exists() else [base]
    for dependency in dependencies:
        # Entries may also be pip requirements ("langchain_openai"); only
        # local directories belong on sys.path.
        candidate = (base / dependency).resolve()
        if dependency.startswith((".", "/")) or candidate.is_dir():
            paths.append(candidate)
    return tuple(dict.fromkeys(p.resolve() for p in paths))


def _read(path: Path) -> _ConfigFile:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return _ConfigFile.model_validate(raw)
    except (OSError, ValueError, ValidationError) as exc:
        raise GraphConfigError(str(path), f"invalid graph config: {exc}") from exc


def read_auth_spec(path: Path) -> GraphSpec | None:
    """The config's ``auth.path`` (an ``Auth`` object to import, as a spec), if any."""
    config = _read(path)
    spec = (config.auth or {}).get("path")
    if spec is None:
        return None
    if not isinstance(spec, str):
        raise GraphConfigError(str(path), "auth.path must be a string like './auth.py:auth'")
    return GraphSpec("auth", spec, path, None, _search_paths(path, config.dependencies))


def read_config_file(path: Path) -> list[GraphSpec]:
    """The graph specs of one config file, in file order."""
    config = _read(path)
    search_paths = _search_paths(path, config.dependencies)
    specs = []
    for graph_id, entry in config.graphs.items():
        if isinstance(entry, str):
            entry = _GraphEntry(path=entry)
        specs.append(GraphSpec(graph_id, entry.path, path, entry.description, search_paths))
    return specs


@dataclass(frozen=True)
class _Compiled:
    graph: Pregel[Any, Any, Any, Any]
    subgraph: Pregel[Any, Any, Any, Any]
    module: ModuleType | None


class GraphRegistry:
    """Graphs by id, each compiled once, lazily or up front with ``load_all``."""

    def __init__(
        self,
        specs: Sequence[GraphSpec],
        *,
        checkpointer: BaseCheckpointSaver[Any] | None,
        deps: Mapping[str, Any] | None = None,
        components: ComponentCatalog | None = None,
        store: BaseStore | None = None,
    ) -> None:
        self._specs: dict[str, GraphSpec] = {}
        for spec in specs:
            if (earlier := self._specs.get(spec.graph_id)) is not None:
                raise GraphConfigError(
                    spec.spec,
                    f"graph id {spec.graph_id!r} is defined in both "
                    f"{earlier.config_path} and {spec.config_path}",
                )
            self._specs[spec.graph_id] = spec
        self.checkpointer = checkpointer
        # The long-term store every graph gets (a node's ``store`` argument,
        # ``get_store()``), on both views of a compile.
        self.store = store
        self._deps: dict[str, Any] = {**(deps or {}), "registry": self}
        self._compiled: dict[str, _Compiled] = {}
        self._errors: dict[str, GraphLoadError] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.failed: dict[str, str] = {}
        self.compile_count: dict[str, int] = {}
        # Which deps each graph's factory took, e.g. to say which model a run used.
        self.injected: dict[str, frozenset[str]] = {}
        self._components = components
        self.flows: FlowCatalog[_Compiled] = FlowCatalog(
            self.components, lambda: self._deps, self._finish
        )

    @classmethod
    def from_config_files(
        cls,
        paths: Sequence[Path],
        *,
        checkpointer: BaseCheckpointSaver[Any] | None = None,
        deps: Mapping[str, Any] | None = None,
        components: ComponentCatalog | None = None,
        store: BaseStore | None = None,
    ) -> GraphRegistry:
        """Specs from each file in order; an id repeated in a later file is an error."""
        specs = [spec for path in paths for spec in read_config_file(Path(path))]
        return cls(specs, checkpointer=checkpointer, deps=deps, components=components, store=store)

    @staticmethod
    def builtin_config() -> Path:
        """The ``langgraph.json`` listing the graphs that ship with Switchyard."""
        return _BUILTIN_CONFIG

    def components(self) -> ComponentCatalog:
        """The flow components (built-ins and discovered plugins, unless given)."""
        if self._components is None:
            self._components = ComponentCatalog.discover()
        return self._components

    def provide(self, **deps: Any) -> None:
        """Add dependencies that can only be built once the registry exists
        (the router needs the graph ids; the ``auto`` graph needs the router)."""
        self._deps.update(deps)

    # -- lookup ---------------------------------------------------------------

    def ids(self) -> list[str]:
        """Loaded and loadable ids, in config order, then flows; failed ones are left out."""
        code = [graph_id for graph_id in self._specs if graph_id not in self.failed]
        return [*code, *self.flows.ids()]

    def compiles(self, graph_id: str) -> int:
        """How many times ``graph_id`` was compiled: once, or for a flow once per
        (version, params) it served."""
        flow_compiles = sum(n for key, n in self.flows.compile_count.items() if key[0] == graph_id)
        return self.compile_count.get(graph_id, 0) + flow_compiles

    def routable_ids(self) -> list[str]:
        """Ids a router may send a request to: all but flows whose params need values."""
        return [
            graph_id
            for graph_id in self.ids()
            if (served := self.flows.get(graph_id)) is None
            or not any(p.required for p in served.flow.params.values())
        ]

    # -- flows ----------------------------------------------------------------

    def is_code_graph(self, graph_id: str) -> bool:
        """Whether a config file names ``graph_id`` (loaded or failed)."""
        return graph_id in self._specs

    def put_flow(self, flow: FlowDocument, version: int) -> None:
        """Serve ``version`` of ``flow`` under ``flow.id``; runs under way keep theirs."""
        if flow.id in self._specs:
            raise ValueError(f"flow id {flow.id!r} is taken by a code graph")
        self.flows.put(flow, version)

    def remove_flow(self, flow_id: str) -> bool:
        return self.flows.remove(flow_id)

    def flow(self, graph_id: str) -> FlowVersion | None:
        """The served version of the flow ``graph_id``; None for code graphs."""
        return self.flows.get(graph_id)

    def spec(self, graph_id: str) -> GraphSpec:
        try:
            return self._specs[graph_id]
        except KeyError:
            raise UnknownGraph(graph_id) from None

    def description(self, graph_id: str) -> str:
        """The config's description, else the graph module's first docstring line, else the id."""
        if (served := self.flows.get(graph_id)) is not None:
            return served.flow.description or graph_id
        spec = self.spec(graph_id)
        if spec.description:
            return spec.description
        compiled = self._compiled.get(graph_id)
        doc = inspect.getdoc(compiled.module) if compiled and compiled.module else None
        return doc.strip().splitlines()[0] if doc and doc.strip() else graph_id

    async def get(
        self,
        graph_id: str,
        *,
        params: Mapping[str, Any] | None = None,
        version: int | None = None,
    ) -> Pregel[Any, Any, Any, Any]:
        """The compiled graph with the registry's checkpointer; compiles on first use.

        ``params`` are a flow's template values (``FlowParamsError`` if they
        do not fit), ``version`` one of its stored versions (default: the
        served one); code graphs take neither.
        """
        return (await self._get_compiled(graph_id, params, version)).graph

    async def get_subgraph(
        self,
        graph_id: str,
        *,
        params: Mapping[str, Any] | None = None,
        version: int | None = None,
    ) -> Pregel[Any, Any, Any, Any]:
        """The same compiled graph without a checkpointer, to embed as a node."""
        return (await self._get_compiled(graph_id, params, version)).subgraph

    def recompile(self, graph_id: str) -> None:
        """Compile the code graph ``graph_id`` again on its next use.

        For graphs built over the others (``auto`` embeds every routable
        graph): when flows come, go or change version, its next run must see
        them. Runs already going keep the graph they hold.
        """
        self._compiled.pop(graph_id, None)
        self._errors.pop(graph_id, None)
        self.failed.pop(graph_id, None)

    async def load_all(self, *, skip_broken: bool = False) -> None:
        """Compile every graph now. Tries all, then raises ``GraphsFailedToLoad``
        naming every failure unless ``skip_broken`` (failures are in ``failed``
        either way)."""
        failures: list[tuple[str, GraphLoadError]] = []
        for graph_id in self._specs:
            try:
                await self._get_compiled(graph_id)
            except GraphLoadError as exc:
                failures.append((graph_id, exc))
        if failures and not skip_broken:
            raise GraphsFailedToLoad(failures)

    # -- compiling ------------------------------------------------------------

    async def _get_compiled(
        self, graph_id: str, params: Mapping[str, Any] | None = None, version: int | None = None
    ) -> _Compiled:
        if (done := self._compiled.get(graph_id)) is not None:
            return done
        if graph_id in self.flows:
            return await self.flows.compiled(graph_id, params, version=version)
        spec = self.spec(graph_id)
        check_cycle(graph_id, spec.spec)
        lock = self._locks.setdefault(graph_id, asyncio.Lock())
        async with lock:
            if (done := self._compiled.get(graph_id)) is not None:
                return done
            if (error := self._errors.get(graph_id)) is not None:
                raise error
            try:
                with compiling(graph_id, spec.spec):
                    done = await self._compile(spec)
            except GraphLoadError as exc:
                self._errors[graph_id] = exc
                self.failed[graph_id] = str(exc)
                raise
            self._compiled[graph_id] = done
            return done

    async def _compile(self, spec: GraphSpec) -> _Compiled:
        target, module = import_target(spec.spec, spec.config_path.parent, spec.search_paths)
        if not isinstance(target, (Pregel, StateGraph)) and callable(target):
            target = await self._call_factory(spec, target)
        self.compile_count[spec.graph_id] = self.compile_count.get(spec.graph_id, 0) + 1
        return await self._finish(spec.graph_id, target, module, spec.spec)

    async def _finish(
        self, graph_id: str, target: Any, module: ModuleType | None = None, where: str = ""
    ) -> _Compiled:
        """Compile a builder (if it is one) and make the two views of it."""
        where = where or f"flow:{graph_id}"
        if isinstance(target, StateGraph):
            try:
                target = target.compile(name=graph_id)
            except Exception as exc:
                raise GraphLoadError(where, f"compile failed: {exc!r}") from exc
        if not isinstance(target, Pregel):
            raise GraphLoadError(
                where,
                f"expected a StateGraph, a compiled graph or a factory returning one, "
                f"got {type(target).__name__}",
            )
        update: dict[str, Any] = {"checkpointer": self.checkpointer}
        if self.store is not None:
            update["store"] = self.store
        if target.name == "LangGraph":  # LangGraph's default: name it after its id
            update["name"] = graph_id
        graph = target.copy(update=update)
        subgraph = target.copy(update={**update, "checkpointer": None})
        return _Compiled(graph, subgraph, module)

    async def _call_factory(self, spec: GraphSpec, factory: Any) -> Any:
        try:
            signature = inspect.signature(factory)
        except (TypeError, ValueError) as exc:
            raise GraphLoadError(spec.spec, f"cannot inspect factory: {exc}") from exc
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for name, param in signature.parameters.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            if name not in self._deps:
                if param.default is param.empty:
                    offered = ", ".join(sorted(self._deps))
                    raise GraphLoadError(
                        spec.spec,
                        f"factory parameter {name!r} cannot be supplied (available: {offered})",
                    )
                continue
            if param.kind is param.POSITIONAL_ONLY:
                args.append(self._deps[name])
            else:
                kwargs[name] = self._deps[name]
        self.injected[spec.graph_id] = frozenset(kwargs) | {
            name
            for name, param in signature.parameters.items()
            if param.kind is param.POSITIONAL_ONLY and name in self._deps
        }
        try:
            result = factory(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
        except GraphLoadError as exc:  # a graph this one builds on failed to load
            raise GraphLoadError(spec.spec, f"depends on a graph that failed: {exc}") from exc
        except Exception as exc:
            raise GraphLoadError(spec.spec, f"factory raised {exc!r}") from exc
        return result
