"""LLM calls, seen from the HTTP client: metrics per provider, a span, ``traceparent``.

``ObservedTransport`` wraps the httpx transport of the clients that talk to
LLM providers (the graph nodes' ``ChatOpenAI`` and the router's
classifier). Each HTTP request is one attempt:

* ``switchyard_llm_calls_total{provider}``, and on failure
  ``switchyard_llm_failures_total{provider, reason}`` with reason ``http_429``,
  ``http_4xx``, ``http_5xx``, ``timeout`` or ``error``;
* ``switchyard_llm_call_seconds{provider}`` up to the end of the response
  body (a streamed completion's last token);
* with tracing on, a CLIENT span ``llm.call`` (child of the node's or the
  router's span) whose context goes out as ``traceparent``; with tracing off,
  the caller's own ``traceparent`` is passed on unchanged.

Retries are decided above HTTP (tenacity, in ``graphs.models`` and
``routers.llm``), which report each one through ``retry_counter``.
The provider is found by the request URL's prefix (its ``base_url``), so
one client shared by several providers (the router's) is labelled right.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import httpx

from app.observability.metrics import NOOP, Metrics
from app.observability.middleware import incoming_traceparent
from app.observability.tracing import Tracing, inject

__all__ = ["ObservedTransport", "retry_counter"]

_REASONS = ("http_429", "http_4xx", "http_5xx", "timeout", "error")


class _Provider:
    __slots__ = ("calls", "failures", "latency", "name")

    def __init__(self, metrics: Metrics | None, name: str) -> None:
        self.name = name
        if metrics is None:
            self.calls = self.latency = NOOP
            self.failures = dict.fromkeys(_REASONS, NOOP)
            return
        self.calls = metrics.llm_calls.labels(name)
        self.latency = metrics.llm_latency.labels(name)
        self.failures = {r: metrics.llm_failures.labels(name, r) for r in _REASONS}


def _reason(status: int) -> str | None:
    if status == 429:
        return "http_429"
    if status >= 500:
        return "http_5xx"
    if status >= 400:
        return "http_4xx"
    return None


class ObservedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that observes every request to an LLM provider."""

    def __init__(
        self,
        providers: Mapping[str, str],
        *,
        metrics: Metrics | None,
        tracing: Tracing | None,
        inner: httpx.AsyncBaseTransport | None = None,
        default: str = "other",
    ) -> None:
        # Longest base URL first, so a more specific prefix wins.
        self._providers = sorted(
            ((base.rstrip("/"), _Provider(metrics, name)) for base, name in providers.items()),
            key=lambda item: -len(item[0]),
        )
        self._default = _Provider(metrics, default)
        self._tracing = tracing if tracing is not None and tracing.enabled else None
        self._inner = inner or httpx.AsyncHTTPTransport()

    def _provider(self, url: httpx.URL) -> _Provider:
        text = str(url)
        for base, provider in self._providers:
            if text.startswith(base):
                return provider
        return self._default

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        provider = self._provider(request.url)
        provider.calls.inc()
        span = self._start_span(request, provider.name)
        if span is None and "traceparent" not in request.headers:
            passed_on = incoming_traceparent.get()
            if passed_on is not None:
                request.headers["traceparent"] = passed_on
        started = time.perf_counter()
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException as exc:
            if isinstance(exc, Exception):
                timeout = isinstance(exc, httpx.TimeoutException)
                provider.failures["timeout" if timeout else "error"].inc()
            provider.latency.observe(time.perf_counter() - started)
            if span is not None:
                self._end_span(span, None, exc)
            raise
        failed = _reason(response.status_code)
        if failed is not None:
            provider.failures[failed].inc()

        def done(error: BaseException | None = None) -> None:
            provider.latency.observe(time.perf_counter() - started)
            if span is not None:
                self._end_span(span, response.status_code, error)

        response.stream = _ObservedStream(response.stream, done)
        return response

    def _start_span(self, request: httpx.Request, provider: str) -> Any:
        if self._tracing is None:
            return None
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind

        assert self._tracing.tracer is not None
        span = self._tracing.tracer.start_span(
            "llm.call",
            context=self._tracing.child_context(),
            kind=SpanKind.CLIENT,
            attributes={
                "llm.provider": provider,
                "http.request.method": request.method,
                "url.full": str(request.url.copy_with(query=None)),
            },
        )
        headers: dict[str, str] = {}
        with trace.use_span(span, end_on_exit=False):
            inject(headers)
        request.headers.update(headers)
        return span

    @staticmethod
    def _end_span(span: Any, status: int | None, error: BaseException | None) -> None:
        from opentelemetry.trace import Status, StatusCode

        if status is not None:
            span.set_attribute("http.response.status_code", status)
        if error is not None:
            span.record_exception(error)
        if error is not None or (status is not None and status >= 400):
            span.set_status(Status(StatusCode.ERROR))
        span.end()

    async def aclose(self) -> None:
        await self._inner.aclose()


class _ObservedStream(httpx.AsyncByteStream):
    """The response body; reports once when it is read to the end or closed."""

    def __init__(self, inner: Any, done: Callable[[BaseException | None], None]) -> None:
        self._inner = inner
        self._done: Callable[[BaseException | None], None] | None = done

    def _report(self, error: BaseException | None) -> None:
        if self._done is not None:
            done, self._done = self._done, None
            done(error)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except BaseException as exc:
            self._report(exc)
            raise

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._report(None)


def retry_counter(metrics: Metrics | None) -> Callable[[str], None]:
    """``on_retry(provider)`` for the tenacity loops: counts one retry."""
    if metrics is None:
        return lambda provider: None
    children: dict[str, Any] = {}

    def on_retry(provider: str) -> None:
        child = children.get(provider)
        if child is None:
            child = children[provider] = metrics.llm_retries.labels(provider)
        child.inc()

    return on_retry
