"""Coordinator backends the contract runs over.

``coordinators`` is a pair (a, b) of coordinators that share one backend, as
two server instances do. In-process there is one instance, so both are the
same object. A distributed backend adds a parameter here and nothing else:
"distributed" is two ``DistributedCoordinator`` instances, each with its own
Postgres pool and Redis client, on the session's schema and key prefix.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.coordinator import Coordinator, LocalCoordinator

MAX_CONCURRENCY = 3


@pytest.fixture(params=["local", "distributed"])
async def coordinators(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[Coordinator, Coordinator]]:
    if request.param == "local":
        local = LocalCoordinator(max_concurrency=MAX_CONCURRENCY)
        yield local, local
        await local.close()
        return
    from tests.support.instances import distributed_coordinators

    postgres_url: str = request.getfixturevalue("postgres_url")
    redis_url, prefix = request.getfixturevalue("redis_target")
    async with distributed_coordinators(
        postgres_url, redis_url, f"{prefix}coord:", max_concurrency=MAX_CONCURRENCY
    ) as (a, b):
        yield a, b
