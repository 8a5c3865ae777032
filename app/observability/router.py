"""Router decisions as metrics and a span, without the router knowing.

``ObservedRouter`` wraps any ``routers.base.Router`` (the ``auto`` graph is
given the wrapper): ``routers/`` stays free of HTTP and of metrics. Each
decision counts in ``switchyard_router_decisions_total{source, target}``
and its own ``latency_ms`` goes to ``switchyard_router_decision_seconds``.
``source`` is the decision's kind, bounded whatever the rules are named:
``rule``, ``semantic``, ``dynamic``, ``llm``, ``hybrid`` (a rule and the
LLM agreed) or ``fallback`` (``other`` for anything new); the full source
(``rule:publish-en``) is on the span and in the route event.
"""

from __future__ import annotations

from typing import Any

from app.observability.metrics import Metrics
from app.observability.tracing import Tracing
from routers.base import RouteDecision, Router, RouteRequest

__all__ = ["ObservedRouter", "source_kind"]


def source_kind(source: str) -> str:
    if "+" in source:
        return "hybrid"
    kind = source.partition(":")[0]
    return kind if kind in ("rule", "semantic", "dynamic", "llm", "fallback") else "other"


class ObservedRouter:
    def __init__(self, inner: Router, *, metrics: Metrics | None, tracing: Tracing | None) -> None:
        self.inner = inner
        self._metrics = metrics
        self._tracing = tracing if tracing is not None and tracing.enabled else None
        self._decisions: dict[tuple[str, str], Any] = {}
        self._latency: dict[str, Any] = {}

    async def route(self, request: RouteRequest, *, strategy: str | None = None) -> RouteDecision:
        if self._tracing is None:
            decision = await self.inner.route(request, strategy=strategy)
        else:
            decision = await self._traced(request, strategy)
        self._count(decision)
        return decision

    async def _traced(self, request: RouteRequest, strategy: str | None) -> RouteDecision:
        from opentelemetry.trace import Status, StatusCode

        assert self._tracing is not None
        assert self._tracing.tracer is not None
        parent = self._tracing.child_context()  # the graph node that asks
        with self._tracing.tracer.start_as_current_span("router.decide", context=parent) as span:
            try:
                decision = await self.inner.route(request, strategy=strategy)
            except Exception as exc:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise
            span.set_attributes(
                {
                    "router.target": decision.target,
                    "router.source": decision.source,
                    "router.confidence": decision.confidence,
                    "router.strategy": decision.strategy or "",
                    "router.latency_ms": decision.latency_ms,
                }
            )
            return decision

    def _count(self, decision: RouteDecision) -> None:
        metrics = self._metrics
        if metrics is None:
            return
        kind = source_kind(decision.source)
        key = (kind, decision.target)
        counter = self._decisions.get(key)
        if counter is None:
            counter = self._decisions[key] = metrics.router_decisions.labels(*key)
        counter.inc()
        latency = self._latency.get(kind)
        if latency is None:
            latency = self._latency[kind] = metrics.router_latency.labels(kind)
        latency.observe(decision.latency_ms / 1000)
