"""Conditions and computed values: the router's safe expressions, over flow state.

Flows use the same expression language as routing rules
(``routers.expressions``): compiled once against a whitelist, never
``eval``. What an expression sees is one flat mapping: every param by name,
then every state channel by name (a flow may not reuse a name for both, so
neither can shadow the other).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from routers.expressions import Expression, UnsafeExpression, compile_expression

__all__ = ["Expression", "UnsafeExpression", "compile_flow_expression", "scope", "unknown_names"]

_ROOT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def compile_flow_expression(text: str) -> Expression:
    """The compiled expression; ``ValueError`` (``UnsafeExpression`` included) says why not."""
    return compile_expression(text)


def unknown_names(expression: Expression, known: Iterable[str]) -> list[str]:
    """Names the expression reads that are neither a param nor a channel."""
    names = set(known)
    unknown = []
    for name in expression.fields:
        root = _ROOT.match(name)
        if root is not None and root.group(0) not in names:
            unknown.append(root.group(0))
    return sorted(set(unknown))


def scope(state: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The mapping an expression is evaluated over."""
    return {**params, **state}
