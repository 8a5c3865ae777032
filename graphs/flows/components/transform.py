"""``transform`` (set and compute channels) and ``function`` (call Python by spec).

``transform`` is pure data: ``set`` writes values (templates filled from
state), ``compute`` writes the value of a safe expression over params and
state (``count + 1``, ``score >= threshold``).

``function`` calls ``module:function`` as ``function(state, **args)``
(sync or async) and uses the mapping it returns as the node's update. A
flow can be posted over HTTP, so naming *any* importable callable would let
a client run ``os:system``: only modules under the prefixes the operator
allows (setting ``flows.function_modules``) can be named.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, ConfigDict, Field

from graphs.flows.components.base import (
    Component,
    ComponentError,
    FlowScope,
    NodeContext,
    NodeFunction,
    Problem,
)
from graphs.flows.expressions import compile_flow_expression, scope, unknown_names
from graphs.flows.templates import render

__all__ = ["FunctionComponent", "FunctionConfig", "TransformComponent", "TransformConfig"]


class TransformConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    set: dict[str, Any] = Field(
        default_factory=dict, description="channel -> value; {{state.x}} is filled at run time."
    )
    compute: dict[str, str] = Field(
        default_factory=dict, description="channel -> safe expression over params and state."
    )


class TransformComponent(Component):
    name = "transform"
    description = "Writes channels from templates (set) and safe expressions (compute)."
    config_model = TransformConfig

    def writes(self, config: BaseModel) -> Iterable[tuple[tuple[str | int, ...], str]]:
        assert isinstance(config, TransformConfig)
        yield from ((("set", key), key) for key in config.set)
        yield from ((("compute", key), key) for key in config.compute)

    def check(self, config: BaseModel, scope: FlowScope) -> Iterable[Problem]:
        assert isinstance(config, TransformConfig)
        known = [*scope.params, *scope.channels]
        for key, text in config.compute.items():
            try:
                expression = compile_flow_expression(text)
            except ValueError as exc:
                yield (("compute", key), f"bad expression {text!r}: {exc}")
                continue
            for name in unknown_names(expression, known):
                yield (("compute", key), f"expression {text!r} reads unknown name {name!r}")

    async def build(self, config: BaseModel, context: NodeContext) -> NodeFunction:
        assert isinstance(config, TransformConfig)
        computed = {key: compile_flow_expression(text) for key, text in config.compute.items()}
        params = dict(context.params)

        async def run(state: dict[str, Any], run_config: RunnableConfig) -> dict[str, Any]:
            update = {key: render(value, state) for key, value in config.set.items()}
            names = scope(state, params)
            update.update({key: expr.evaluate(names) for key, expr in computed.items()})
            return update

        return run


class FunctionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    function: str = Field(
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", description="'package.module:function'."
    )
    args: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments; {{state.x}} is filled at run time."
    )


def _allowed(module: str, prefixes: Sequence[str]) -> bool:
    return any(module == p or module.startswith(p.rstrip(".") + ".") for p in prefixes)


class FunctionComponent(Component):
    name = "function"
    description = (
        "Calls a Python function 'module:function' as function(state, **args); the mapping "
        "it returns is the update. Only modules the operator allows can be named."
    )
    config_model = FunctionConfig

    def __init__(self, allowed_modules: Sequence[str] = ()) -> None:
        self.allowed_modules = tuple(allowed_modules)

    def check(self, config: BaseModel, scope: FlowScope) -> Iterable[Problem]:
        assert isinstance(config, FunctionConfig)
        module = config.function.partition(":")[0]
        if not _allowed(module, self.allowed_modules):
            allowed = ", ".join(self.allowed_modules) or "none"
            yield (
                ("function",),
                f"module {module!r} is not allowed for functions "
                f"(setting flows.function_modules; allowed: {allowed})",
            )

    def _load(self, spec: str) -> Callable[..., Any]:
        module_name, _, attr = spec.partition(":")
        if not _allowed(module_name, self.allowed_modules):
            raise ComponentError(f"module {module_name!r} is not allowed for functions")
        try:
            target = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ComponentError(f"cannot load function {spec!r}: {exc}") from exc
        if not callable(target):
            raise ComponentError(f"{spec!r} is not callable")
        return target  # type: ignore[no-any-return]

    async def build(self, config: BaseModel, context: NodeContext) -> NodeFunction:
        assert isinstance(config, FunctionConfig)
        function = self._load(config.function)
        is_async = inspect.iscoroutinefunction(function)
        spec = config.function

        async def run(state: dict[str, Any], run_config: RunnableConfig) -> dict[str, Any]:
            args = render(config.args, state)
            if is_async:
                result = await function(dict(state), **args)
            else:
                # A sync function may block (files, CPU): off the event loop,
                # with the context copied so LangGraph's config still reaches it.
                result = await asyncio.to_thread(function, dict(state), **args)
            if result is None:
                return {}
            if not isinstance(result, Mapping):
                raise TypeError(f"function {spec} returned {type(result).__name__}, not a mapping")
            return dict(result)

        return run
