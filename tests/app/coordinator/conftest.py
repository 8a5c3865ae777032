"""Coordinator backends the contract runs over.

``coordinators`` is a pair (a, b) of coordinators that share one backend, as
two server instances do. In-process there is one instance, so both are the
same object. A distributed backend adds a parameter here and nothing else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.coordinator import Coordinator, LocalCoordinator

MAX_CONCURRENCY = 3


@pytest.fixture(params=["local"])
async def coordinators(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[Coordinator, Coordinator]]:
    assert request.param == "local"
    local = LocalCoordinator(max_concurrency=MAX_CONCURRENCY)
    yield local, local
    await local.close()
