"""Which graphs the current task is compiling, to turn dependency cycles into errors.

A graph (code or flow) may embed another as a subgraph, which compiles it
first. Compiles are single-flight (later callers wait for the first), so a
cycle ``a -> b -> a`` would wait on itself for ever; instead, the second
entry of ``a`` on the same task chain raises ``GraphLoadError``.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from graphs.loader import GraphLoadError

__all__ = ["check_cycle", "compiling"]

# Ids being compiled by the current task and the tasks it spawns.
_COMPILING: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "switchyard_compiling", default=()
)


def check_cycle(graph_id: str, spec: str) -> None:
    """``GraphLoadError`` if ``graph_id`` is already being compiled on this task chain."""
    chain = _COMPILING.get()
    if graph_id in chain:
        raise GraphLoadError(spec, f"circular graph dependency: {' -> '.join((*chain, graph_id))}")


@contextmanager
def compiling(graph_id: str, spec: str) -> Iterator[None]:
    """Mark ``graph_id`` as being compiled for the duration of the block."""
    check_cycle(graph_id, spec)
    token = _COMPILING.set((*_COMPILING.get(), graph_id))
    try:
        yield
    finally:
        _COMPILING.reset(token)
