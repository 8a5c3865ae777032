"""``Fast`` children count exactly what prometheus-client's own calls count."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from app.observability.metrics import NOOP, fast


def _families() -> tuple[CollectorRegistry, Counter, Gauge, Histogram]:
    registry = CollectorRegistry()
    counter = Counter("c_total", "c", ["k"], registry=registry)
    gauge = Gauge("g", "g", registry=registry)
    histogram = Histogram("h_seconds", "h", ["k"], buckets=(0.1, 1, 10), registry=registry)
    return registry, counter, gauge, histogram


AMOUNTS = (0.0, 0.05, 0.1, 0.1000001, 1, 5, 10, 11, 1e9, math.nan)


def test_fast_when_same_calls_as_upstream_then_same_exposition() -> None:
    upstream, c1, g1, h1 = _families()
    ours, c2, g2, h2 = _families()
    for amount in AMOUNTS:
        c1.labels("a").inc()
        c1.labels("a").inc(7)
        g1.inc()
        g1.dec(3)
        h1.labels("a").observe(amount)
    counter, gauge, histogram = fast(c2.labels("a")), fast(g2), fast(h2.labels("a"))
    for amount in AMOUNTS:
        counter.inc()
        counter.inc(7)
        gauge.inc()
        gauge.dec(3)
        histogram.observe(amount)
    assert _samples(ours) == _samples(upstream)
    assert 'h_seconds_bucket{k="a",le="0.1"} 3.0' in _samples(ours)


def _samples(registry: CollectorRegistry) -> list[str]:
    """The exposition without ``_created`` (the families' creation times differ)."""
    lines = generate_latest(registry).decode().splitlines()
    return [line for line in lines if "_created" not in line]


def test_fast_when_metrics_off_then_noop() -> None:
    assert fast(NOOP) is NOOP
