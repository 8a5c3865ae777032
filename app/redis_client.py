"""The one Redis client of a process, and how its users ride out a dropped connection.

Redis holds the shared event log (``app.events.redis``) and the distributed
coordinator's signals. Both take the client ``open_redis`` yields (one
connection pool) and call Redis through ``retrying``: a connection that
drops (Redis restarted, a failover, a proxy timeout) is retried with backoff
for ``retry_s`` seconds, after which the caller gets ``BackendUnavailable``
(503 over HTTP, an ``error`` event on a stream) instead of hanging.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.errors import BackendUnavailable
from app.settings import RedisSettings

__all__ = ["TRANSIENT", "SharedRedis", "open_redis", "retrying"]

log = logging.getLogger("switchyard.redis")

T = TypeVar("T")

# What a restart or a dropped connection looks like from the client.
TRANSIENT: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError, OSError)


async def retrying(operation: Callable[[], Awaitable[T]], *, retry_s: float, what: str) -> T:
    """``operation()``, retried on a dropped connection until ``retry_s`` has passed.

    Backoff doubles from 50 ms to 1 s. Anything but a connection failure
    propagates at once: only the transport is retried, never a refusal.
    """
    deadline = time.monotonic() + retry_s
    pause = 0.05
    while True:
        try:
            return await operation()
        except TRANSIENT as exc:
            if time.monotonic() + pause > deadline:
                raise BackendUnavailable(
                    f"Redis is unreachable ({what}): {type(exc).__name__}: {exc}"
                ) from exc
            log.warning("Redis %s failed (%s); retrying in %.2f s", what, exc, pause)
            await asyncio.sleep(pause)  # backoff between reconnection attempts
            pause = min(pause * 2, 1.0)


@dataclass(frozen=True)
class SharedRedis:
    """The process's client and what every user of it must agree on."""

    client: Redis
    prefix: str  # every key and channel starts with it
    retry_s: float


@asynccontextmanager
async def open_redis(settings: RedisSettings) -> AsyncIterator[SharedRedis]:
    """A client on ``settings.url`` (checked with a PING); closed on exit."""
    if settings.url is None:
        raise ValueError("set SWITCHYARD_REDIS_URL to use Redis")
    client: Redis = Redis.from_url(
        settings.url.get_secret_value(),
        protocol=2,  # the reply shapes app.events.redis parses
        health_check_interval=30,
        socket_connect_timeout=5,
        socket_keepalive=True,
    )
    try:
        await retrying(client.ping, retry_s=settings.retry_s, what="connect")
        yield SharedRedis(client=client, prefix=settings.prefix, retry_s=settings.retry_s)
    finally:
        await client.aclose()
