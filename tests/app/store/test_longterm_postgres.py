"""The long-term store on Postgres (``app.store.longterm_postgres``): LangGraph's
``AsyncPostgresStore`` on the storage's pool, set up once by instances that start
together, and a clear startup error when an index is asked for without pgvector."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from langgraph.store.base import BaseStore
from langgraph.store.postgres.aio import AsyncPostgresStore
from pydantic import SecretStr

from app.platform.settings import LongTermStoreSettings
from app.settings import PostgresSettings, Settings, StorageSettings
from app.store import open_storage
from app.store.embeddings import EmbeddingsUnavailable
from app.store.longterm import open_longterm_store
from tests.conftest import make_settings
from tests.support.backends import postgres_schema


def _settings(tmp_path: Path, url: str, **store: object) -> Settings:
    return make_settings(
        tmp_path,
        storage=StorageSettings(backend="postgres"),
        postgres=PostgresSettings(url=SecretStr(url), pool_max=4),
        store=LongTermStoreSettings(**store),
    )


@asynccontextmanager
async def _instance(settings: Settings) -> AsyncIterator[BaseStore]:
    async with (
        open_storage(settings.storage, settings.sqlite_file, settings.postgres) as storage,
        open_longterm_store(settings, storage.postgres) as store,
    ):
        yield store


async def test_store_when_two_instances_start_on_a_fresh_schema_then_one_shared_store(
    tmp_path: Path,
) -> None:
    with postgres_schema() as url:
        settings = _settings(tmp_path, url)
        async with _instance(settings) as a, _instance(settings) as b:
            assert isinstance(a, AsyncPostgresStore)
            await asyncio.gather(
                a.aput(("users", "u1"), "prefs", {"tea": "green"}),
                b.aput(("users", "u2"), "prefs", {"tea": "black"}),
            )
            item = await b.aget(("users", "u1"), "prefs")
            assert item is not None
            assert item.value == {"tea": "green"}
            assert len(await a.asearch(("users",))) == 2


async def test_store_when_index_asked_without_pgvector_then_startup_says_so(
    tmp_path: Path, postgres_url: str
) -> None:
    settings = _settings(
        tmp_path, postgres_url, index_embed="openai", index_base_url="http://127.0.0.1:9/v1"
    )
    with pytest.raises(EmbeddingsUnavailable, match="pgvector"):
        async with _instance(settings):
            pass


async def test_search_when_range_filter_is_a_number_then_compared_as_numbers(
    tmp_path: Path, postgres_url: str
) -> None:
    async with _instance(_settings(tmp_path, postgres_url)) as store:
        for key, n in (("nine", 9), ("ten", 10), ("text", "11"), ("half", 2.5)):
            await store.aput(("range",), key, {"n": n})

        async def keys(**condition: object) -> list[str]:
            return sorted(i.key for i in await store.asearch(("range",), filter={"n": condition}))

        assert await keys(**{"$gte": 10}) == ["ten"]  # text order would add "nine"
        assert await keys(**{"$gt": 2}) == ["half", "nine", "ten"]
        assert await keys(**{"$lt": 9.5, "$gt": 2.5}) == ["nine"]
        assert await keys(**{"$eq": "11"}) == ["text"]
