"""The langgraph-sdk and RemoteGraph conformance tests, unchanged, against a server on
Postgres (storage, checkpoints) and Redis (event log): the deployment that scales out.

Every test of ``test_sdk_conformance`` is collected here again; only the
``settings`` fixture differs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import PostgresSettings, RedisSettings, Settings, StorageSettings
from tests.app.test_sdk_conformance import *  # noqa: F403  (the same tests, collected here)
from tests.conftest import make_settings


@pytest.fixture
def settings(tmp_path: Path, postgres_url: str, redis_target: tuple[str, str]) -> Settings:
    url, prefix = redis_target
    return make_settings(
        tmp_path,
        storage=StorageSettings(backend="postgres"),
        postgres=PostgresSettings(url=postgres_url),
        redis=RedisSettings(url=url, prefix=f"{prefix}sdk:"),
    )
