"""Long-term store latency on SQLite and Postgres (run: ``python -m tests.bench.store_bench``).

``measure_store()`` returns p50 microseconds per operation of the store
Switchyard serves (``app.store.longterm``: LangGraph's ``AsyncSqliteStore``
on its own file; ``pg_*``: its ``AsyncPostgresStore`` on the test Postgres,
``SWITCHYARD_TEST_POSTGRES_URL``, in a schema of its own), called in-process,
so the figures are the store's own:

* ``put``/``get``/``search`` (a namespace listing with a filter) without an
  index, over ``items`` items;
* ``indexed_put``/``indexed_search`` (``query=``) with a semantic index whose
  embeddings come over HTTP from the local OpenAI-protocol test server
  (one round trip per put and per query; its vectors are 64 floats), so the
  index's own cost (sqlite-vec) plus one embedding call is what is measured
  (SQLite only: the test Postgres has no pgvector).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from langgraph.store.base import BaseStore
from pydantic import SecretStr

from app.platform.settings import LongTermStoreSettings
from app.settings import PostgresSettings, Settings, StorageSettings
from app.store import open_storage
from app.store.longterm import open_longterm_store
from tests.support.backends import postgres_schema
from tests.support.openai_server import run_openai_server

__all__ = ["measure_store"]


async def _p50_us(work: Callable[[int], Awaitable[Any]], count: int) -> float:
    samples = []
    for i in range(count):
        started = time.perf_counter()
        await work(i)
        samples.append((time.perf_counter() - started) * 1e6)
    return statistics.median(samples)


async def _measure(data_dir: Path, items: int, base_url: str | None) -> dict[str, float]:
    store_settings = (
        LongTermStoreSettings(
            index_embed="openai", index_dims=64, index_base_url=base_url, index_fields=["text"]
        )
        if base_url
        else LongTermStoreSettings()
    )
    settings = Settings(data_dir=data_dir, store=store_settings)
    prefix = "indexed_" if base_url else ""
    async with open_longterm_store(settings) as store:
        return await _figures(store, items, prefix, indexed=base_url is not None)


async def _measure_postgres(data_dir: Path, items: int, url: str) -> dict[str, float]:
    settings = Settings(
        data_dir=data_dir,
        storage=StorageSettings(backend="postgres"),
        postgres=PostgresSettings(url=SecretStr(url)),
    )
    async with (
        open_storage(settings.storage, settings.sqlite_file, settings.postgres) as storage,
        open_longterm_store(settings, storage.postgres) as store,
    ):
        return await _figures(store, items, "pg_", indexed=False)


async def _figures(store: BaseStore, items: int, prefix: str, *, indexed: bool) -> dict[str, float]:
    async def put(i: int) -> None:
        value = {"text": f"note {i} about topic {i % 17}", "n": i, "kind": i % 3}
        await store.aput(("bench", f"u{i % 10}"), f"k{i}", value)

    async def get(i: int) -> None:
        await store.aget(("bench", f"u{i % 10}"), f"k{i}")

    async def search(i: int) -> None:
        await store.asearch(("bench",), filter={"kind": i % 3}, limit=10)

    async def query(i: int) -> None:
        await store.asearch(("bench",), query=f"topic {i % 17}", limit=10)

    figures = {f"{prefix}put": await _p50_us(put, items)}
    if indexed:
        figures[f"{prefix}search"] = await _p50_us(query, min(items, 200))
    else:
        figures[f"{prefix}get"] = await _p50_us(get, items)
        figures[f"{prefix}search"] = await _p50_us(search, min(items, 200))
    return figures


def measure_store(items: int = 1000) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="switchyard-store-bench-") as tmp:
        figures = asyncio.run(_measure(Path(tmp) / "plain", items, None))
        with run_openai_server() as openai:
            figures |= asyncio.run(_measure(Path(tmp) / "indexed", items, openai.base_url))
        try:
            with postgres_schema() as url:
                figures |= asyncio.run(_measure_postgres(Path(tmp) / "pg", items, url))
        except (OSError, psycopg.Error, pytest.skip.Exception, pytest.fail.Exception) as exc:
            print(f"store on Postgres: not measured ({exc})")
    return figures


if __name__ == "__main__":
    for name, value in measure_store().items():
        print(f"{name}: p50 {value:.0f} µs")
