"""Storage latency by backend and operation, and a span per operation.

``observe_storage`` returns the same ``Storage`` with every coroutine method
of its record stores (threads, runs, assistants, crons, thread TTLs, flows)
timed into ``switchyard_storage_op_seconds{backend, op}`` (ops are method names:
``threads.get``, ``runs.set_status``, ``checkpoint.aput``, ...). The
checkpointer is timed in place (its instance gets timed ``aget_tuple``,
``aput``, ``aput_writes``, ``adelete_thread``), since the run path and
LangGraph check its type. With tracing on, each operation is a
``storage.<op>`` span under whatever is current (a run, a request).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

from app.observability.metrics import Metrics, fast
from app.observability.tracing import Tracing
from app.store import Storage

__all__ = ["observe_storage"]

_CHECKPOINT_OPS = ("aget_tuple", "aput", "aput_writes", "adelete_thread")
# The record stores of ``Storage`` (the op label is ``<store>.<method>``).
_STORES = ("threads", "runs", "assistants", "crons", "thread_ttls", "flows")


def _timed(
    method: Callable[..., Awaitable[Any]], op: str, backend: str, metrics: Metrics, tracing: Any
) -> Callable[..., Awaitable[Any]]:
    latency = fast(metrics.storage_latency.labels(backend, op))
    span_name = f"storage.{op}"

    @functools.wraps(method)
    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            if tracing is None:
                return await method(*args, **kwargs)
            with tracing.tracer.start_as_current_span(
                span_name,
                context=tracing.child_context(),
                attributes={"db.system": backend, "db.operation": op},
            ):
                return await method(*args, **kwargs)
        finally:
            latency.observe(time.perf_counter() - started)

    return timed


class _TimedStore:
    """A store whose coroutine methods are timed; anything else passes through."""

    def __init__(self, inner: Any, prefix: str, backend: str, metrics: Metrics, tracing: Any):
        self._inner = inner
        for name, member in inspect.getmembers(type(inner)):
            if name.startswith("_") or not inspect.iscoroutinefunction(member):
                continue
            bound = getattr(inner, name)
            setattr(self, name, _timed(bound, f"{prefix}.{name}", backend, metrics, tracing))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def observe_storage(
    storage: Storage, *, backend: str, metrics: Metrics | None, tracing: Tracing | None
) -> Storage:
    if metrics is None:
        return storage
    active = tracing if tracing is not None and tracing.enabled else None
    checkpointer = storage.checkpointer
    for name in _CHECKPOINT_OPS:
        method = getattr(checkpointer, name, None)
        if method is not None:
            timed = _timed(method, f"checkpoint.{name}", backend, metrics, active)
            setattr(checkpointer, name, timed)
    stores: dict[str, Any] = {
        name: _TimedStore(getattr(storage, name), name, backend, metrics, active)
        for name in _STORES
    }
    return dataclasses.replace(storage, **stores)
