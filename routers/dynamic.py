"""Dynamic rules: routing decisions made by Python code the operator registers.

A dynamic rule is a callable ``(text, context) -> RouteDecision | None``
named in settings by spec, ``"package.module:function"``. It is consulted
before the static rules (it is code the operator chose to put first); the
first one that returns a decision wins. ``context`` is the request context
plus ``tags``, the same data rule conditions see.

The decision's ``source`` is overwritten with ``dynamic:<function>`` so the
origin is always truthful. A dynamic rule that raises, or names a target that
is not registered, is skipped (and logged): one faulty plug-in must not stop
requests from being routed.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from routers.base import RouteDecision, RouteRequest
from routers.errors import RouterConfigError

__all__ = ["DynamicRule", "DynamicRuleFn", "first_dynamic_decision", "load_dynamic_rule"]

log = logging.getLogger(__name__)

DynamicRuleFn = Callable[[str, Mapping[str, Any]], RouteDecision | None]


@dataclass(frozen=True, slots=True)
class DynamicRule:
    name: str
    fn: DynamicRuleFn


def load_dynamic_rule(spec: str) -> DynamicRule:
    """Import ``module:function``; ``RouterConfigError`` if it is not a callable."""
    module_name, sep, attr_path = spec.partition(":")
    where = f"dynamic rule {spec!r}"
    if not sep or not module_name or not attr_path:
        raise RouterConfigError(f"{where}: expected 'module:function'")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise RouterConfigError(f"{where}: cannot import {module_name}: {exc}") from exc
    for part in attr_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise RouterConfigError(f"{where}: {module_name} has no {attr_path}") from exc
    if not callable(target):
        raise RouterConfigError(f"{where}: {attr_path} is not callable")
    return DynamicRule(name=attr_path, fn=target)


def first_dynamic_decision(
    rules: Sequence[DynamicRule], request: RouteRequest, targets: Collection[str]
) -> RouteDecision | None:
    """The decision of the first dynamic rule that makes a valid one, if any."""
    if not rules:
        return None
    context = {**request.context, "tags": list(request.tags)}
    for rule in rules:
        try:
            decision = rule.fn(request.text, context)
        except Exception:  # a plug-in's bug is logged and skipped, never fatal
            log.exception("dynamic rule %s raised; skipped", rule.name)
            continue
        if decision is None:
            continue
        if not isinstance(decision, RouteDecision):
            log.warning("dynamic rule %s returned %r, not a RouteDecision", rule.name, decision)
            continue
        if decision.target not in targets:
            log.warning("dynamic rule %s chose unknown target %r", rule.name, decision.target)
            continue
        return decision.model_copy(update={"source": f"dynamic:{rule.name}"})
    return None
