"""Seeing what the server does: Prometheus metrics, JSON logs with ids, OTel traces.

Modules: ``metrics`` (families, multiprocess), ``logging`` (JSON lines, ids,
redaction), ``tracing`` (spans, node spans), ``middleware`` (request ids,
HTTP span), ``runs`` (a run's metrics/ids/span), ``router``, ``llm``,
``storage`` (observed wrappers), ``endpoint`` (``/metrics`` access),
``setup`` (``Observability``: what ``create_app`` builds).
"""
