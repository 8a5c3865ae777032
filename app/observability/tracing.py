"""OpenTelemetry spans: HTTP request → run → graph node → router decision → LLM call → storage.

Off by default, and then free: ``Tracing(enabled=False)`` imports nothing
from OpenTelemetry and every call site checks one attribute. On
(``SWITCHYARD_TRACES_ENABLED=true``, needs the ``otel`` extra), each app has
its own ``TracerProvider`` (no global provider, so tests can build many
apps), exporting by OTLP/HTTP when an endpoint is configured, plus any
exporter a caller adds (``add_exporter``: the tests' in-memory one).

Where spans come from:

* ``http``: ``app.observability.middleware`` (W3C ``traceparent`` honoured);
* ``run``: ``app.observability.runs.RunScope``, current in the run's task,
  which asyncio copied from the request's context (so its parent is the
  request's span);
* ``node <name>``: ``NodeSpans``, a LangChain callback handler that LangChain
  adds to every callback manager configured while the run's context has it
  (``register_configure_hook``). Spans opened inside a node (and inside a
  subgraph node's nodes) find it as their parent through ``child_context``;
* ``router.decide``, ``llm.call``, ``storage.<op>``: ``app.observability.router``,
  ``.llm`` and ``.storage``, children of whatever is current.

``llm.call`` injects ``traceparent`` into the outgoing request; with tracing
off, an incoming ``traceparent`` is still passed on unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables.config import var_child_runnable_config
from langchain_core.tracers.context import register_configure_hook

from app.observability.settings import TraceSettings

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer

__all__ = ["NodeSpans", "Tracing", "node_spans_var", "parse_traceparent"]

# While a run's context holds a NodeSpans here, LangChain adds it to every
# callback manager (LangGraph configures one per node): spans per node.
node_spans_var: ContextVar[NodeSpans | None] = ContextVar("switchyard_node_spans", default=None)
_hook_registered = False


def parse_traceparent(value: str) -> tuple[str, str] | None:
    """``(trace_id, parent_span_id)`` of a W3C ``traceparent``, or None if malformed."""
    parts = value.strip().split("-")
    if len(parts) < 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    trace_id, span_id = parts[1].lower(), parts[2].lower()
    try:
        int(trace_id, 16)
        int(span_id, 16)
    except ValueError:
        return None
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return trace_id, span_id


class Tracing:
    """One app's tracer, or nothing at all when ``enabled`` is False."""

    def __init__(self, settings: TraceSettings) -> None:
        self.enabled = settings.enabled
        self.provider: TracerProvider | None = None
        self.tracer: Tracer | None = None
        self.node_spans: NodeSpans | None = None
        if not self.enabled:
            return
        try:
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
        except ImportError as exc:  # the optional extra is missing
            raise RuntimeError(
                "SWITCHYARD_TRACES_ENABLED=true needs OpenTelemetry: pip install 'switchyard[otel]'"
            ) from exc
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": settings.service_name}),
            sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)),
        )
        endpoint = settings.otlp_endpoint
        if endpoint or _otlp_env():
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            exporter = OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()
            self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("switchyard")
        self.node_spans = NodeSpans(self.tracer)
        _register_hook()

    def add_exporter(self, exporter: SpanExporter) -> None:
        """Export every span to ``exporter`` as it ends (tests, debugging)."""
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        assert self.provider is not None, "tracing is off"
        self.provider.add_span_processor(SimpleSpanProcessor(exporter))

    def extract(self, headers: Mapping[str, str]) -> Context:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        return TraceContextTextMapPropagator().extract(carrier=headers)

    def child_context(self) -> Context | None:
        """Where a span opened now belongs (see ``NodeSpans.child_context``)."""
        return self.node_spans.child_context() if self.node_spans is not None else None

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()


def inject(headers: MutableMapping[str, str]) -> None:
    """Put the current span's ``traceparent`` into outgoing ``headers``."""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    TraceContextTextMapPropagator().inject(carrier=headers)


def _otlp_env() -> bool:
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def _register_hook() -> None:
    global _hook_registered
    if not _hook_registered:  # process-wide list in LangChain: once per process
        register_configure_hook(node_spans_var, inheritable=True)
        _hook_registered = True


def _is_node(name: object, tags: list[str] | None, metadata: dict[str, Any] | None) -> bool:
    """LangGraph's own task run: named after its node and tagged ``graph:step:N``
    (a subgraph's inner ``LangGraph`` run and a node body's run are not)."""
    if not metadata or name != metadata.get("langgraph_node"):
        return False
    return any(tag.startswith("graph:step:") for tag in tags or ())


def _langchain_parent() -> UUID | None:
    """The LangChain run the code running now belongs to (a node, a model call),
    from the config LangChain keeps in a context variable for it."""
    config = var_child_runnable_config.get()
    callbacks = config.get("callbacks") if config else None
    parent = getattr(callbacks, "parent_run_id", None)
    return parent if isinstance(parent, UUID) else None


class NodeSpans(BaseCallbackHandler):
    """A span for each graph node's task, and the parent for spans opened inside it.

    It never changes the current OpenTelemetry context: LangChain reports a
    run's end from another task (a shielded copy of the context), so a span
    attached at the start could not be detached there. Instead it keeps the
    LangChain run tree (run id -> parent run id) while runs are open, and
    ``child_context`` finds the node a piece of code runs in from the config
    LangChain keeps in a context variable for it.
    """

    run_inline = True  # called in the task that runs the node, in order

    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer
        self._parents: dict[UUID, UUID | None] = {}
        self._spans: dict[UUID, Span] = {}

    def _nearest(self, run_id: UUID | None) -> Span | None:
        while run_id is not None:
            span = self._spans.get(run_id)
            if span is not None:
                return span
            run_id = self._parents.get(run_id)
        return None

    def child_context(self) -> Context | None:
        """The context a new span should start in: the innermost of the node the
        calling code runs in and the current span (None: the current context)."""
        from opentelemetry import trace

        node = self._nearest(_langchain_parent())
        if node is None:
            return None
        current = trace.get_current_span()
        current_start = getattr(current, "start_time", None)
        node_start = getattr(node, "start_time", None)
        if current_start is not None and node_start is not None and current_start > node_start:
            return None  # opened inside the node (router.decide): it is the innermost
        return trace.set_span_in_context(node)

    def _started(self, run_id: UUID, parent_run_id: UUID | None) -> None:
        self._parents[run_id] = parent_run_id

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._parents[run_id] = parent_run_id
        name = kwargs.get("name")
        if not _is_node(name, tags, metadata):
            return
        from opentelemetry import trace

        assert metadata is not None
        parent = self._nearest(parent_run_id)
        self._spans[run_id] = self._tracer.start_span(
            f"node {name}",
            context=trace.set_span_in_context(parent) if parent is not None else None,
            attributes={
                "langgraph.node": str(name),
                "langgraph.step": int(metadata.get("langgraph_step") or 0),
                "langgraph.checkpoint_ns": str(metadata.get("langgraph_checkpoint_ns") or ""),
            },
        )

    def on_chat_model_start(
        self,
        serialized: Any,
        messages: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._parents[run_id] = parent_run_id

    def on_llm_start(
        self,
        serialized: Any,
        prompts: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._parents[run_id] = parent_run_id

    def on_tool_start(
        self,
        serialized: Any,
        input_str: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._parents[run_id] = parent_run_id

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._close(run_id, None)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._close(run_id, error)

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._parents.pop(run_id, None)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._parents.pop(run_id, None)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._parents.pop(run_id, None)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._parents.pop(run_id, None)

    def _close(self, run_id: UUID, error: BaseException | None) -> None:
        self._parents.pop(run_id, None)
        span = self._spans.pop(run_id, None)
        if span is None:
            return
        from langgraph.errors import GraphBubbleUp
        from opentelemetry.trace import Status, StatusCode

        if error is not None and not isinstance(error, GraphBubbleUp):
            # GraphBubbleUp (interrupt(), Command to a parent) is control flow.
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()
