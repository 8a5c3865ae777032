"""Template params: check values against their declared types, fill defaults.

A flow with params is a template; each set of values is its own compile,
cached under :func:`params_key` (canonical JSON of the resolved values, so
``{}`` and the defaults spelled out share one compiled graph).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from graphs.flows.document import FlowDocument

__all__ = ["FlowParamsError", "params_key", "resolve_params", "type_error"]

_CHECKS: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "messages": (list,),
}


def type_error(value: Any, expected: str) -> str | None:
    """Why ``value`` is not of the flow type ``expected``, or None if it is."""
    kinds = _CHECKS.get(expected)
    if kinds is None:  # "any"
        return None
    # bool is an int to Python, never to a flow.
    ok = isinstance(value, kinds) and (expected == "boolean" or not isinstance(value, bool))
    if ok:
        return None
    shown = json.dumps(value, default=str)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    return f"{shown} is not of type {expected}"


class FlowParamsError(ValueError):
    """Param values that do not fit the flow; ``problems`` are ``(json path, message)``."""

    def __init__(self, flow_id: str, problems: list[tuple[str, str]]) -> None:
        self.flow_id = flow_id
        self.problems = problems
        listed = "; ".join(f"{path}: {message}" for path, message in problems)
        super().__init__(f"flow {flow_id!r} params: {listed}")


def resolve_params(flow: FlowDocument, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every declared param with its value (given, else default); all problems at once."""
    values = dict(values or {})
    problems: list[tuple[str, str]] = []
    for name in values:
        if name not in flow.params:
            known = ", ".join(flow.params) or "none"
            problems.append((f"params.{name}", f"unknown param (declared: {known})"))
    resolved: dict[str, Any] = {}
    for name, param in flow.params.items():
        if name in values:
            value = values[name]
        elif param.required:
            problems.append((f"params.{name}", f"required param of type {param.type} is missing"))
            continue
        else:
            value = param.default
        if (error := type_error(value, param.type)) is not None:
            problems.append((f"params.{name}", error))
            continue
        resolved[name] = value
    if problems:
        raise FlowParamsError(flow.id, problems)
    return resolved


def params_key(resolved: Mapping[str, Any]) -> str:
    return json.dumps(resolved, sort_keys=True, separators=(",", ":"), default=str)
