"""Several coordinator instances in one test process, each with its own connections,
as separate server processes would have them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from pydantic import SecretStr

from app.coordinator.distributed import DistributedCoordinator
from app.redis_client import open_redis
from app.settings import PostgresSettings, RedisSettings
from app.store.postgres_pool import open_postgres

__all__ = ["distributed_coordinators"]


@asynccontextmanager
async def distributed_coordinators(
    postgres_url: str,
    redis_url: str,
    prefix: str,
    *,
    max_concurrency: int,
    count: int = 2,
    lease_s: float = 10.0,
) -> AsyncIterator[tuple[DistributedCoordinator, ...]]:
    """``count`` started coordinators on empty claim and turn tables; closed on exit."""
    async with AsyncExitStack() as stack:
        coordinators: list[DistributedCoordinator] = []
        for _ in range(count):
            backend = await stack.enter_async_context(
                open_postgres(PostgresSettings(url=SecretStr(postgres_url), pool_max=5))
            )
            if not coordinators:
                async with backend.pool.connection() as conn:
                    await conn.execute("TRUNCATE run_claims, thread_turns")
            redis = await stack.enter_async_context(
                open_redis(RedisSettings(url=SecretStr(redis_url), prefix=prefix))
            )
            coordinator = DistributedCoordinator(
                pool=backend.pool, redis=redis, max_concurrency=max_concurrency, lease_s=lease_s
            )
            await coordinator.start()
            stack.push_async_callback(coordinator.close)
            coordinators.append(coordinator)
        yield tuple(coordinators)
