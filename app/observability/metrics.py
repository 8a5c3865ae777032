"""Prometheus metrics: every family the server exports, and pre-bound children.

One ``Metrics`` per app (each test builds its own ``CollectorRegistry``).
Hot paths never call ``labels()``: label values are bounded (graph ids,
statuses, transports, provider names, router source kinds, storage ops)
and each combination's child is bound once and kept in a dict, so counting
an event is one dict lookup and one locked add.

Several processes (``switchyard serve --workers N``, or several servers on
one host): ``PROMETHEUS_MULTIPROC_DIR`` names an empty directory shared by
them, set *before* they start (``serve --workers N`` makes a fresh one for
its workers when it is unset: ``multiprocess_metrics``). prometheus-client
then keeps each process's values in files there, and ``render`` sums every
process's files, so any process answers ``/metrics`` for all of them.
Gauges are summed over live processes (``livesum``); a process marks its
files dead when it stops.

No metric has an id as a label: runs, threads and requests are counted, never
named (logs and traces carry the ids).
"""

from __future__ import annotations

import os
import tempfile
from bisect import bisect_left
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

__all__ = [
    "CONTENT_TYPE",
    "NOOP",
    "Fast",
    "Metrics",
    "StreamMetrics",
    "fast",
    "multiprocess_dir",
    "multiprocess_metrics",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST
_NS = "switchyard"

# Runs are short (a 3-node graph: ~2 ms) or long (LLM calls: seconds to minutes).
_RUN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
_FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

TRANSPORTS = ("sse", "ws")


def multiprocess_dir() -> str | None:
    """The shared directory of multiprocess mode, if this process is in it."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


@contextmanager
def multiprocess_metrics() -> Iterator[str]:
    """Worker processes started inside share one metrics directory.

    The operator's ``PROMETHEUS_MULTIPROC_DIR`` when set (they empty it);
    else a fresh directory for this supervisor's life, removed afterwards.
    Children inherit the variable, so it is set before they start, before
    they import ``prometheus_client`` (which reads it once).
    """
    given = multiprocess_dir()
    if given is not None:
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="switchyard-metrics-") as path:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
        try:
            yield path
        finally:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]


class _Noop:
    """A child that counts nothing: what every call site gets when metrics are off."""

    def inc(self, amount: float = 1) -> None:
        pass

    def dec(self, amount: float = 1) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass


NOOP: Any = _Noop()


class Fast:
    """A metric child's hot-path calls without prometheus-client's per-call checks.

    ``Counter.inc`` / ``Gauge.inc`` / ``Histogram.observe`` each re-check on
    every call that the child is not a labelled parent, and ``observe`` walks
    its buckets in Python: with ~20 counts per run that was a measurable part
    of a small run's cost. This counts into the same value objects (the
    process's, or the multiprocess files), so every count stays exact and
    ``/metrics`` renders it as before. Bound once per child, like ``labels``.
    """

    __slots__ = ("_bounds", "_buckets", "_sum", "_value")

    def __init__(self, child: Any) -> None:
        self._value = getattr(child, "_value", None)  # Counter, Gauge
        self._sum = getattr(child, "_sum", None)  # Histogram
        self._bounds: list[float] = list(getattr(child, "_upper_bounds", ()))
        self._buckets: list[Any] = list(getattr(child, "_buckets", ()))

    def inc(self, amount: float = 1) -> None:
        self._value.inc(amount)  # type: ignore[union-attr]

    def dec(self, amount: float = 1) -> None:
        self._value.inc(-amount)  # type: ignore[union-attr]

    def observe(self, amount: float) -> None:
        self._sum.inc(amount)  # type: ignore[union-attr]
        # The first bucket whose bound is >= amount (the last bound is +Inf).
        index = bisect_left(self._bounds, amount)
        if amount <= self._bounds[index]:  # False for NaN: no bucket, as upstream
            self._buckets[index].inc(1)


def fast(child: Any) -> Any:
    """``Fast(child)``, or ``NOOP`` for ``NOOP`` (metrics off)."""
    return NOOP if child is NOOP else Fast(child)


class StreamMetrics:
    """One transport's stream counters, bound once (``Metrics.streams[transport]``)."""

    __slots__ = ("bytes_sent", "closed_by_client", "heartbeats", "open", "timeouts")

    def __init__(self, metrics: Metrics | None, transport: str) -> None:
        if metrics is None:
            self.open = self.bytes_sent = NOOP
            self.heartbeats = self.closed_by_client = self.timeouts = NOOP
            return
        self.open = fast(metrics.streams_open.labels(transport))
        self.bytes_sent = fast(metrics.bytes_sent.labels(transport))
        self.heartbeats = fast(metrics.heartbeats.labels(transport))
        self.closed_by_client = fast(metrics.client_disconnects.labels(transport))
        self.timeouts = fast(metrics.send_timeouts.labels(transport))


class Metrics:
    """Every metric family of the server, registered in ``registry``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.runs_created = Counter(
            f"{_NS}_runs_created_total", "Runs created.", ["assistant"], registry=r
        )
        self.runs_finished = Counter(
            f"{_NS}_runs_finished_total",
            "Runs ended, by terminal status (success, error, timeout, interrupted).",
            ["assistant", "status"],
            registry=r,
        )
        self.run_duration = Histogram(
            f"{_NS}_run_duration_seconds",
            "Execution time of runs that started (queue wait excluded).",
            ["assistant", "status"],
            buckets=_RUN_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            f"{_NS}_run_queue_wait_seconds",
            "From creation to the start of execution (thread turn, concurrency slot).",
            ["assistant"],
            buckets=_RUN_BUCKETS,
            registry=r,
        )
        self.runs_pending = Gauge(
            f"{_NS}_runs_pending",
            "Runs created and not yet executing.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.runs_running = Gauge(
            f"{_NS}_runs_running", "Runs executing now.", registry=r, multiprocess_mode="livesum"
        )
        self.node_retries = Counter(
            f"{_NS}_node_retries_total",
            "Graph node attempts retried after a transient failure (RetryPolicy).",
            ["assistant"],
            registry=r,
        )
        self.events_appended = Counter(
            f"{_NS}_events_appended_total", "Events appended to run event logs.", registry=r
        )
        self.streams_open = Gauge(
            f"{_NS}_streams_open",
            "Open client streams (SSE responses, WebSocket connections).",
            ["transport"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.bytes_sent = Counter(
            f"{_NS}_stream_bytes_sent_total", "Bytes written to clients.", ["transport"], registry=r
        )
        self.heartbeats = Counter(
            f"{_NS}_heartbeats_sent_total", "Keep-alive heartbeats sent.", ["transport"], registry=r
        )
        self.client_disconnects = Counter(
            f"{_NS}_client_disconnects_total",
            "Streams the client closed before they ended.",
            ["transport"],
            registry=r,
        )
        self.send_timeouts = Counter(
            f"{_NS}_send_timeouts_total",
            "Streams closed because the client stopped reading.",
            ["transport"],
            registry=r,
        )
        self.router_decisions = Counter(
            f"{_NS}_router_decisions_total",
            "Router decisions by source kind (rule, semantic, dynamic, llm, hybrid, fallback)"
            " and target.",
            ["source", "target"],
            registry=r,
        )
        self.router_latency = Histogram(
            f"{_NS}_router_decision_seconds",
            "Time to a router decision, by source kind.",
            ["source"],
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self.llm_calls = Counter(
            f"{_NS}_llm_calls_total",
            "HTTP requests to LLM providers (each attempt).",
            ["provider"],
            registry=r,
        )
        self.llm_failures = Counter(
            f"{_NS}_llm_failures_total",
            "LLM requests that failed, by reason (http_429, http_4xx, http_5xx, timeout, error).",
            ["provider", "reason"],
            registry=r,
        )
        self.llm_retries = Counter(
            f"{_NS}_llm_retries_total",
            "LLM calls retried after a transient failure.",
            ["provider"],
            registry=r,
        )
        self.llm_latency = Histogram(
            f"{_NS}_llm_call_seconds",
            "LLM request time to the end of the response body.",
            ["provider"],
            buckets=_RUN_BUCKETS,
            registry=r,
        )
        self.storage_latency = Histogram(
            f"{_NS}_storage_op_seconds",
            "Storage operation latency by backend and operation.",
            ["backend", "op"],
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self.cron_ticks = Counter(
            f"{_NS}_cron_ticks_total",
            "Cron ticks this process fired, by outcome (fired: its run was created; failed).",
            ["outcome"],
            registry=r,
        )
        self.webhook_deliveries = Counter(
            f"{_NS}_webhook_deliveries_total",
            "Webhook deliveries ended, by outcome (delivered, failed after every attempt).",
            ["outcome"],
            registry=r,
        )
        self.webhook_retries = Counter(
            f"{_NS}_webhook_retries_total",
            "Webhook attempts retried (429, 5xx, connection errors).",
            registry=r,
        )
        self.streams = {t: StreamMetrics(self, t) for t in TRANSPORTS}

    def render(self) -> bytes:
        """The text exposition: this process's values, or every process's in multiprocess mode."""
        path = multiprocess_dir()
        if path is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=path)  # type: ignore[no-untyped-call]
        return generate_latest(merged)

    @staticmethod
    def process_stopped() -> None:
        """Drop this process's live gauges from the multiprocess sums."""
        if multiprocess_dir() is not None:
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def stream_metrics(metrics: Metrics | None) -> dict[str, StreamMetrics]:
    """Per-transport stream counters; no-ops when metrics are off."""
    if metrics is None:
        return {t: StreamMetrics(None, t) for t in TRANSPORTS}
    return metrics.streams
