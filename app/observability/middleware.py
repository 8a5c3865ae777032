"""The ASGI middleware every request passes: request id, log ids, the HTTP span.

* ``request_id``: the client's ``X-Request-ID`` when it sends a sane one
  (≤ 128 printable characters), else a new one; echoed in the response's
  ``X-Request-ID`` and bound for every log line of the request (and of the
  runs it creates, which inherit the context).
* ``traceparent`` (W3C): with tracing on, the request's span continues the
  caller's trace; with tracing off, its trace id still goes on the log lines
  and the header is passed on unchanged to LLM calls.
* With tracing on, a SERVER span ``<METHOD> <route>`` covers the whole
  response (a streamed run's whole stream).

Pure ASGI (no ``BaseHTTPMiddleware``): nothing is buffered, streams pass
through untouched, and the cost with tracing off is a header scan, one id and
two context-variable writes per request.
"""

from __future__ import annotations

import secrets
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability import logging as logs
from app.observability.tracing import Tracing, parse_traceparent

__all__ = ["ObservabilityMiddleware", "incoming_traceparent"]

# The caller's traceparent, passed on as-is to LLM calls when tracing is off.
incoming_traceparent: ContextVar[str | None] = ContextVar("switchyard_traceparent", default=None)

_MAX_REQUEST_ID = 128


def _request_id(value: bytes | None) -> str:
    if value and len(value) <= _MAX_REQUEST_ID and value.isascii():
        text = value.decode()
        if text.isprintable() and " " not in text:
            return text
    return secrets.token_hex(8)


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, *, tracing: Tracing | None = None) -> None:
        self.app = app
        self.tracing = tracing if tracing is not None and tracing.enabled else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given_id = traceparent = None
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                given_id = value
            elif key == b"traceparent":
                traceparent = value.decode("latin-1")
        request_id = _request_id(given_id)
        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        if self.tracing is not None:
            await self._traced(scope, receive, send_with_id, request_id, traceparent)
            return
        parsed = parse_traceparent(traceparent) if traceparent else None
        log_token = logs.bind(request_id=request_id, trace_id=parsed[0] if parsed else None)
        tp_token = incoming_traceparent.set(traceparent) if parsed else None
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if tp_token is not None:
                incoming_traceparent.reset(tp_token)
            logs.reset(log_token)

    async def _traced(
        self, scope: Scope, receive: Receive, send: Send, request_id: str, traceparent: str | None
    ) -> None:
        from opentelemetry import context, trace
        from opentelemetry.trace import SpanKind, Status, StatusCode

        tracing = self.tracing
        assert tracing is not None
        assert tracing.tracer is not None
        parent = tracing.extract({"traceparent": traceparent}) if traceparent else None
        method = scope.get("method", "WS")
        span = tracing.tracer.start_span(
            f"{method} {scope['path']}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "url.path": scope["path"],
                "switchyard.request_id": request_id,
            },
        )
        status: dict[str, Any] = {}

        async def send_traced(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        span_token = context.attach(trace.set_span_in_context(span))
        trace_id = format(span.get_span_context().trace_id, "032x")
        log_token = logs.bind(request_id=request_id, trace_id=trace_id)
        try:
            await self.app(scope, receive, send_traced)
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None)
            if template:  # low-cardinality name: the route, not the ids in the path
                span.update_name(f"{method} {template}")
                span.set_attribute("http.route", template)
            if "code" in status:
                span.set_attribute("http.response.status_code", status["code"])
                if status["code"] >= 500:
                    span.set_status(Status(StatusCode.ERROR))
            span.end()
            logs.reset(log_token)
            context.detach(span_token)
