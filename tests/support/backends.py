"""PostgreSQL and Redis for the tests: found, isolated per session, never silently skipped.

The servers come from ``SWITCHYARD_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``) and ``SWITCHYARD_TEST_REDIS_URL``
(default ``redis://127.0.0.1:6379/0``). When one is unreachable its tests
skip with the reason, except under ``CI=true``, where they fail: CI has both,
and a test that silently stopped running would hide a broken backend.

Isolation: each test session works in its own Postgres schema
(``sy_<random>``, dropped at the end) and its own Redis key prefix
(``sy-test:<random>:``, whose keys are deleted at the end), so sessions run
side by side on one server without seeing each other.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import psycopg
import pytest
import redis

__all__ = [
    "postgres_schema",
    "redis_server",
    "schema_url",
    "unavailable",
]

POSTGRES_URL = os.environ.get(
    "SWITCHYARD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("SWITCHYARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unavailable(what: str, error: Exception) -> None:
    """Skip loudly, or fail under CI, where the backend must be there."""
    reason = f"{what} is not reachable ({type(error).__name__}: {error})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI=true requires it", pytrace=False)
    pytest.skip(f"SKIPPED, NOT TESTED: {reason}; set CI=true to make this an error")


def schema_url(base: str, schema: str) -> str:
    """``base`` with a ``search_path`` of ``schema``: everything unqualified lands there."""
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options={quote(f'-csearch_path={schema}')}"


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema, dropped on exit; yields a URL whose search_path is it."""
    schema = f"sy_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL at {POSTGRES_URL}", exc)
        raise  # unreachable: unavailable() always raises
    with admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield schema_url(POSTGRES_URL, schema)
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def redis_server() -> Iterator[tuple[str, str]]:
    """``(url, prefix)``: a key prefix for the session, its keys deleted afterwards."""
    prefix = f"sy-test:{secrets.token_hex(6)}:"
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        unavailable(f"Redis at {REDIS_URL}", exc)
        raise
    try:
        yield REDIS_URL, prefix
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        client.close()
