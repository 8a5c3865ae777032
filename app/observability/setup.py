"""``Observability``: what ``create_app`` builds once and hands to the parts it observes."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.observability.endpoint import check_access
from app.observability.llm import ObservedTransport, retry_counter
from app.observability.metrics import (
    CONTENT_TYPE,
    Metrics,
    StreamMetrics,
    fast,
    stream_metrics,
)
from app.observability.router import ObservedRouter
from app.observability.runs import RunObserver
from app.observability.settings import MetricsSettings, TraceSettings
from app.observability.storage import observe_storage
from app.observability.tracing import Tracing
from app.store import Storage
from routers.base import Router

if TYPE_CHECKING:
    from app.platform.lifespan import Platform

__all__ = ["Observability", "serve_metrics"]


@dataclass
class Observability:
    metrics_settings: MetricsSettings
    metrics: Metrics | None
    tracing: Tracing
    runs: RunObserver
    streams: dict[str, StreamMetrics] = field(default_factory=dict)
    _clients: list[httpx.AsyncClient] = field(default_factory=list)

    @classmethod
    def build(cls, metrics: MetricsSettings, traces: TraceSettings) -> Observability:
        counting = Metrics() if metrics.enabled else None
        tracing = Tracing(traces)
        return cls(
            metrics_settings=metrics,
            metrics=counting,
            tracing=tracing,
            runs=RunObserver(counting, tracing),
            streams=stream_metrics(counting),
        )

    def llm_client(self, providers: Mapping[str, str], *, timeout_s: float) -> httpx.AsyncClient:
        """An HTTP client for LLM providers (base URL -> provider name), observed."""
        transport = ObservedTransport(providers, metrics=self.metrics, tracing=self.tracing)
        client = httpx.AsyncClient(transport=transport, timeout=timeout_s)
        self._clients.append(client)  # closed by ``aclose``
        return client

    @property
    def on_llm_retry(self) -> Callable[[str], None]:
        return retry_counter(self.metrics)

    def router(self, router: Router) -> Router:
        return ObservedRouter(router, metrics=self.metrics, tracing=self.tracing)

    def storage(self, storage: Storage, backend: str) -> Storage:
        return observe_storage(storage, backend=backend, metrics=self.metrics, tracing=self.tracing)

    def platform(self, platform: Platform) -> None:
        """Count cron ticks and webhook deliveries (they report an outcome name)."""
        metrics = self.metrics
        if metrics is None:
            return
        ticks = {o: metrics.cron_ticks.labels(o) for o in ("fired", "failed")}
        deliveries = {o: metrics.webhook_deliveries.labels(o) for o in ("delivered", "failed")}
        retried = metrics.webhook_retries

        def delivery(outcome: str) -> None:
            counter = retried if outcome == "retried" else deliveries.get(outcome)
            if counter is not None:
                counter.inc()

        platform.crons.observe = lambda outcome: ticks[outcome].inc()
        platform.webhooks.observe = delivery

    def count_appends(self, events: Any, *, remote: str | None = None) -> None:
        """Count ``events.append`` calls (the one way events enter a run's log).

        ``remote``: the log is a network backend (``redis``): each append is
        also timed as its storage operation ``events.append``. The in-memory
        log's appends take microseconds and are only counted."""
        if self.metrics is None:
            return
        appended = fast(self.metrics.events_appended)
        append = events.append
        if remote is not None:
            latency = fast(self.metrics.storage_latency.labels(remote, "events.append"))

            @functools.wraps(append)
            async def timed(run_id: str, event: str, data: bytes) -> str:
                appended.inc()
                started = time.perf_counter()
                try:
                    result: str = await append(run_id, event, data)
                finally:
                    latency.observe(time.perf_counter() - started)
                return result

            setattr(events, "append", timed)  # noqa: B010 - an instance attribute, on purpose
            return

        # A plain function handing back the append's own awaitable: no
        # coroutine of its own per event (counted when called, as before).
        @functools.wraps(append)
        def counted(run_id: str, event: str, data: bytes) -> Awaitable[str]:
            appended.inc()
            result: Awaitable[str] = append(run_id, event, data)
            return result

        setattr(events, "append", counted)  # noqa: B010 - an instance attribute, on purpose

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
        if self.metrics is not None:
            Metrics.process_stopped()
        self.tracing.shutdown()


async def serve_metrics(request: Request) -> Response:
    """``GET /metrics`` (see ``app.observability.endpoint`` for access)."""
    observability: Observability = request.app.state.observability
    metrics = observability.metrics
    if metrics is None:
        return JSONResponse(
            {"detail": "metrics are off (SWITCHYARD_METRICS_ENABLED=false)", "code": "not_found"},
            status_code=404,
        )
    refused = check_access(request, observability.metrics_settings)
    if refused is not None:
        return refused
    return Response(metrics.render(), media_type=CONTENT_TYPE)
