"""The Grafana dashboard reads only metrics the server exports, with their labels."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

from app.observability.metrics import Metrics

DASHBOARD = Path(__file__).parents[3] / "docs" / "grafana" / "switchyard-dashboard.json"


def _exported() -> dict[str, set[str]]:
    """Sample name -> label names, for every series the server can export."""
    names: dict[str, set[str]] = {}
    for metric in vars(Metrics()).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        labels = set(metric._labelnames)
        for suffix in ("", "_total", "_bucket", "_count", "_sum"):
            names[metric._name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return names


def test_dashboard_when_loaded_then_every_query_names_an_exported_metric_and_label() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exported = _exported()
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(queries) >= 20
    for query in queries:
        for name in re.findall(r"switchyard_[a-z_]+", query):
            assert name in exported, (name, query)
        for grouping in re.findall(r"by \(([^)]*)\)", query):
            used = {label.strip() for label in grouping.split(",")}
            known = set().union(*(exported[n] for n in re.findall(r"switchyard_[a-z_]+", query)))
            assert used <= known, (used, query)
