"""Reading ``/metrics`` in tests: samples by name and labels, and waiting for one."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Samples", "eventually", "scrape"]


class Samples:
    """``samples["name", {"label": "value"}]`` → the value (0.0 when absent)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._values: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                key = (sample.name, frozenset(sample.labels.items()))
                self._values[key] = self._values.get(key, 0.0) + sample.value

    def __getitem__(self, key: tuple[str, dict[str, str]]) -> float:
        name, labels = key
        return self._values.get((name, frozenset(labels.items())), 0.0)

    def total(self, name: str, **labels: str) -> float:
        """Sum over every series of ``name`` whose labels include ``labels``."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self._values.items() if n == name and wanted <= ls)


def scrape(http: httpx.Client, **headers: str) -> Samples:
    response = http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Samples(response.text)


def eventually(
    http: httpx.Client, ready: Callable[[Samples], bool], timeout_s: float = 10.0
) -> Samples:
    """Scrape until ``ready`` holds (for what the server notices on its own: a
    client that left, a run that ended); fails with the last scrape."""
    deadline = time.monotonic() + timeout_s
    while True:
        samples = scrape(http)
        if ready(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)
