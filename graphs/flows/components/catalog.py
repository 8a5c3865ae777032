"""The components a flow may use: built-ins, entry-point plugins and settings.

Plugins are found two ways, both naming a :class:`Component` subclass (or
an instance, or a list of either):

* a distribution's entry point in the group ``switchyard.components``::

      [project.entry-points."switchyard.components"]
      upper = "my_plugin:UpperCase"

* a ``module:attribute`` spec in the setting ``flows.components``.

A plugin that fails to load, or reuses a taken name, is left out and its
error is kept in ``errors`` (shown by ``GET /components``); the server still
starts, and a flow using it gets "unknown component" from the validator.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from graphs.flows.components.base import Component
from graphs.flows.components.llm import LLMComponent
from graphs.flows.components.mcp_tool import McpToolComponent
from graphs.flows.components.steps import InterruptComponent, RouterComponent, SubgraphComponent
from graphs.flows.components.transform import FunctionComponent, TransformComponent

__all__ = ["ENTRY_POINT_GROUP", "ComponentCatalog", "ComponentInfo", "builtin_components"]

ENTRY_POINT_GROUP = "switchyard.components"


@dataclass(frozen=True)
class ComponentInfo:
    component: Component
    source: str  # "builtin", "entry-point:<dist>" or "setting:<spec>"

    def describe(self) -> dict[str, Any]:
        component = self.component
        return {
            "name": component.name,
            "description": component.description,
            "source": self.source,
            "config_schema": component.schema(),
        }


def builtin_components(function_modules: Sequence[str] = ()) -> list[Component]:
    return [
        LLMComponent(),
        TransformComponent(),
        FunctionComponent(function_modules),
        SubgraphComponent(),
        RouterComponent(),
        InterruptComponent(),
        McpToolComponent(),
    ]


def _as_components(obj: Any, where: str) -> list[Component]:
    items = list(obj) if isinstance(obj, (list, tuple)) else [obj]
    found = []
    for item in items:
        if isinstance(item, type) and issubclass(item, Component):
            item = item()
        if not isinstance(item, Component):
            raise TypeError(f"{where}: expected a Component subclass or instance, got {item!r}")
        if not getattr(item, "name", None) or not hasattr(item, "config_model"):
            raise TypeError(f"{where}: a component needs `name` and `config_model`")
        found.append(item)
    return found


def _load_spec(spec: str) -> Any:
    module, colon, attr = spec.partition(":")
    if not colon or not module or not attr:
        raise ValueError(f"expected 'module:attribute', got {spec!r}")
    target: Any = importlib.import_module(module)
    for part in attr.split("."):
        target = getattr(target, part)
    return target


class ComponentCatalog:
    """Components by name; built once per app and read by validator and compiler."""

    def __init__(self, components: Iterable[ComponentInfo] = ()) -> None:
        self._by_name: dict[str, ComponentInfo] = {}
        self.errors: dict[str, str] = {}
        for info in components:
            self.add(info)

    def add(self, info: ComponentInfo) -> None:
        name = info.component.name
        if (taken := self._by_name.get(name)) is not None:
            self.errors[info.source] = f"component name {name!r} is taken by {taken.source}"
            return
        self._by_name[name] = info

    @classmethod
    def discover(
        cls,
        *,
        specs: Sequence[str] = (),
        function_modules: Sequence[str] = (),
        use_entry_points: bool = True,
    ) -> ComponentCatalog:
        """Built-ins, then entry-point plugins, then the ``specs`` from settings."""
        catalog = cls(ComponentInfo(c, "builtin") for c in builtin_components(function_modules))
        plugins: list[tuple[str, Any]] = []
        if use_entry_points:
            for point in entry_points(group=ENTRY_POINT_GROUP):
                dist = point.dist.name if point.dist is not None else "?"
                plugins.append((f"entry-point:{dist}:{point.name}", point.load))
        plugins += [(f"setting:{spec}", lambda spec=spec: _load_spec(spec)) for spec in specs]
        for source, load in plugins:
            try:
                found = _as_components(load(), source)
            except Exception as exc:  # a broken plugin must not stop the server
                catalog.errors[source] = f"{type(exc).__name__}: {exc}"
                continue
            for component in found:
                catalog.add(ComponentInfo(component, source))
        return catalog

    def get(self, name: str) -> Component | None:
        info = self._by_name.get(name)
        return info.component if info is not None else None

    def names(self) -> list[str]:
        return list(self._by_name)

    def describe(self) -> list[dict[str, Any]]:
        return [info.describe() for info in self._by_name.values()]
