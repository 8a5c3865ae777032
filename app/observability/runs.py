"""What a run looks like from outside: its metrics, its log ids, its span.

``RunManager`` wraps each run's task in ``RunObserver.run(handle)`` (one
``with``) and calls ``started()`` once the run has its thread turn and a
concurrency slot::

    with observer.run(handle) as observed:    # created: pending +1, ids bound, span "run"
        ... wait for the thread and a slot ...
        observed.started()                    # pending -1, running +1, queue wait
        ... execute, finish ...               # handle.outcome set by the manager
                                              # exit: running -1, finished{status}, duration

Everything the run's task starts after ``__enter__`` (LangGraph's node
tasks included) inherits the bound ids and the span, so a node's log line
carries ``run_id``/``thread_id``/``assistant_id``/``trace_id`` and a node's
span nests under the run's.
"""

from __future__ import annotations

import time
from contextvars import Token
from typing import TYPE_CHECKING, Any

from app.observability import logging as logs
from app.observability.metrics import NOOP, Metrics, fast
from app.observability.tracing import Tracing, node_spans_var

if TYPE_CHECKING:
    from app.runs.handle import RunHandle

__all__ = ["RunObserver", "RunScope"]

_STATUSES = ("success", "error", "timeout", "interrupted")


class _GraphChildren:
    """One graph's metric children, bound once."""

    __slots__ = ("created", "duration", "finished", "queue_wait", "retries")

    def __init__(self, metrics: Metrics | None, graph_id: str) -> None:
        if metrics is None:
            self.created = self.queue_wait = self.retries = NOOP
            self.finished = dict.fromkeys(_STATUSES, NOOP)
            self.duration = dict.fromkeys(_STATUSES, NOOP)
            return
        self.created = fast(metrics.runs_created.labels(graph_id))
        self.queue_wait = fast(metrics.queue_wait.labels(graph_id))
        self.retries = fast(metrics.node_retries.labels(graph_id))
        self.finished = {s: fast(metrics.runs_finished.labels(graph_id, s)) for s in _STATUSES}
        self.duration = {s: fast(metrics.run_duration.labels(graph_id, s)) for s in _STATUSES}


class RunObserver:
    """Observes every run of one ``RunManager``; see the module docstring."""

    def __init__(self, metrics: Metrics | None = None, tracing: Tracing | None = None) -> None:
        self._metrics = metrics
        self._tracing = tracing if tracing is not None and tracing.enabled else None
        self._graphs: dict[str, _GraphChildren] = {}
        self.pending: Any = fast(metrics.runs_pending) if metrics is not None else NOOP
        self.running: Any = fast(metrics.runs_running) if metrics is not None else NOOP

    def graph(self, graph_id: str) -> _GraphChildren:
        children = self._graphs.get(graph_id)
        if children is None:
            children = self._graphs[graph_id] = _GraphChildren(self._metrics, graph_id)
        return children

    def run(self, handle: RunHandle) -> RunScope:
        return RunScope(self, handle)

    def node_retried(self, graph_id: str) -> None:
        self.graph(graph_id).retries.inc()

    @property
    def tracing(self) -> Tracing | None:
        return self._tracing


class RunScope:
    """One run's observation, from creation to its terminal status."""

    __slots__ = (
        "_children",
        "_created",
        "_handle",
        "_log_token",
        "_node_token",
        "_observer",
        "_span",
        "_span_token",
        "_started",
    )

    def __init__(self, observer: RunObserver, handle: RunHandle) -> None:
        self._observer = observer
        self._handle = handle
        self._children = observer.graph(handle.graph_id)
        self._started: float | None = None
        self._span: Any = None
        self._span_token: object = None
        self._node_token: Token[Any] | None = None

    def __enter__(self) -> RunScope:
        run = self._handle.run
        self._created = time.perf_counter()
        self._children.created.inc()
        self._observer.pending.inc()
        tracing = self._observer.tracing
        trace_id = None
        if tracing is not None:
            self._enter_span(tracing)
            trace_id = format(self._span.get_span_context().trace_id, "032x")
        self._log_token = logs.bind(
            run_id=run.run_id,
            thread_id=run.thread_id,
            assistant_id=run.assistant_id,
            trace_id=trace_id,
        )
        return self

    def _enter_span(self, tracing: Tracing) -> None:
        from opentelemetry import context, trace

        assert tracing.tracer is not None
        run = self._handle.run
        self._span = tracing.tracer.start_span(
            "run",
            attributes={
                "switchyard.run_id": run.run_id,
                "switchyard.thread_id": run.thread_id,
                "switchyard.assistant_id": run.assistant_id,
                "switchyard.graph_id": self._handle.graph_id,
                "switchyard.run_kind": self._handle.kind,
            },
        )
        self._span_token = context.attach(trace.set_span_in_context(self._span))
        self._node_token = node_spans_var.set(tracing.node_spans)

    def started(self) -> None:
        """The run got its thread turn and a slot: it executes now."""
        now = time.perf_counter()
        self._started = now
        self._observer.pending.dec()
        self._observer.running.inc()
        self._children.queue_wait.observe(now - self._created)
        if self._span is not None:
            self._span.add_event("started")

    def __exit__(self, *exc_info: object) -> None:
        outcome = self._handle.outcome
        status = outcome.status if outcome is not None else "interrupted"
        if self._started is None:
            self._observer.pending.dec()
        else:
            self._observer.running.dec()
            duration = self._children.duration.get(status)
            if duration is not None:
                duration.observe(time.perf_counter() - self._started)
        finished = self._children.finished.get(status)
        if finished is not None:
            finished.inc()
        logs.reset(self._log_token)
        if self._span is not None:
            self._exit_span(status)

    def _exit_span(self, status: str) -> None:
        from opentelemetry import context
        from opentelemetry.trace import Status, StatusCode

        self._span.set_attribute("switchyard.status", status)
        if status == "error":
            self._span.set_status(Status(StatusCode.ERROR, "run failed"))
        self._span.end()
        if self._node_token is not None:
            node_spans_var.reset(self._node_token)
        context.detach(self._span_token)  # type: ignore[arg-type]
