"""What a component is: a config schema and a builder of node functions.

A component turns one node's validated config into a *node function*::

    async def run(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]

``state`` holds every declared channel (unset ones at their ``default``);
the returned mapping is the node's update, channel -> value, combined by
each channel's reducer. The function runs inside LangGraph, so it may call
``interrupt()``, ``get_stream_writer()`` or a compiled subgraph, and a chat
model it awaits streams its tokens to the ``messages`` mode.

Plugins subclass :class:`Component` (see ``graphs.flows.components.catalog``
for how they are found). ``build`` runs once per compile, never per run:
resolve imports, dependencies and expressions there.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from graphs.flows.document import Channel

__all__ = [
    "Component",
    "ComponentError",
    "FlowScope",
    "NodeContext",
    "NodeFunction",
    "Problem",
]

NodeFunction = Callable[[dict[str, Any], RunnableConfig], Awaitable[dict[str, Any]]]
# A config-relative key path and what is wrong there.
Problem = tuple[tuple[str | int, ...], str]


class ComponentError(Exception):
    """A component cannot be built as configured (a missing dependency, a bad import)."""


@dataclass(frozen=True)
class FlowScope:
    """What validation knows about the world a flow will run in.

    ``graphs`` are the registered graph ids (None: unknown, not checked);
    ``mcp_servers`` likewise for MCP server names.
    """

    channels: Mapping[str, Channel]
    params: frozenset[str] = frozenset()
    graphs: frozenset[str] | None = None
    mcp_servers: frozenset[str] | None = None


@dataclass(frozen=True)
class NodeContext:
    """What ``Component.build`` gets besides its config."""

    flow_id: str
    node_id: str
    channels: Mapping[str, Channel]
    params: Mapping[str, Any] = field(default_factory=dict)
    deps: Mapping[str, Any] = field(default_factory=dict)

    def require(self, name: str) -> Any:
        """The dependency ``name`` (``model``, ``registry``, ``router``, ``mcp``...)."""
        value = self.deps.get(name)
        if value is None:
            raise ComponentError(
                f"node {self.node_id!r} needs the {name!r} dependency, which this server "
                f"does not provide (available: {', '.join(sorted(self.deps)) or 'none'})"
            )
        return value


class Component(ABC):
    """A kind of node. Subclasses set ``name``, ``description`` and ``config_model``."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    config_model: ClassVar[type[BaseModel]]

    def writes(self, config: BaseModel) -> Iterable[tuple[tuple[str | int, ...], str]]:
        """The channels this node writes, each with the config key naming it.

        The validator checks each against the declared channels.
        """
        return ()

    def check(self, config: BaseModel, scope: FlowScope) -> Iterable[Problem]:
        """Problems only this component can see (an unknown graph, a bad expression)."""
        return ()

    @abstractmethod
    async def build(self, config: BaseModel, context: NodeContext) -> NodeFunction:
        """The node function; called once per compile."""

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """The JSON Schema of this component's config, as ``GET /components`` shows it."""
        return cls.config_model.model_json_schema()
