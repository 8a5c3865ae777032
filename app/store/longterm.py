"""The long-term memory store (``/store/items``), shared with every graph.

LangGraph's own stores, chosen by ``settings.storage.backend``:

    memory    InMemoryStore                 nothing persists; no item TTL
    sqlite    AsyncSqliteStore (langgraph-checkpoint-sqlite) on its own file,
              ``store.db`` beside the main one: it runs its own transactions
              (BEGIN ... COMMIT) and must not share the connection whose
              trips commit runs and checkpoints
    postgres  AsyncPostgresStore (langgraph-checkpoint-postgres) on the
              storage's pool, so every instance sees every item; its tables
              are set up under the migration lock (``app.store.migrations``)

With ``settings.store.index_embed`` set, items are embedded on put and
``search(query=...)`` ranks by cosine similarity (sqlite-vec on SQLite,
pgvector on Postgres: the ``vector`` extension must be available).
The same object is compiled into every graph (``GraphRegistry(store=...)``),
so a node's ``store`` argument and ``get_store()`` see what clients put.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import aiosqlite
import httpx
from langgraph.store.base import BaseStore, IndexConfig, TTLConfig
from langgraph.store.memory import InMemoryStore
from langgraph.store.sqlite.aio import AsyncSqliteStore

from app.settings import Settings
from app.store.embeddings import EmbeddingsUnavailable, build_embeddings

if TYPE_CHECKING:
    from app.store.postgres_pool import PostgresBackend

__all__ = ["index_config", "open_longterm_store", "store_file"]


def store_file(settings: Settings) -> Path:
    path = settings.store.sqlite_path
    return path if path.is_absolute() else settings.data_dir / path


def index_config(settings: Settings, http: httpx.AsyncClient | None = None) -> IndexConfig | None:
    """The semantic index the settings ask for, or None (no ``query`` search)."""
    embeddings, dims = build_embeddings(settings, http)
    if embeddings is None:
        return None
    fields = list(settings.store.index_fields)
    config = IndexConfig(dims=dims, embed=embeddings, fields=fields)
    # langgraph-checkpoint-sqlite's store reads the paths from "text_fields"
    # (InMemoryStore from "fields"); without it SQLite embeds the whole value.
    config["text_fields"] = fields  # type: ignore[typeddict-unknown-key]
    return config


def _connect(path: Path, *, loads_extensions: bool) -> aiosqlite.Connection:
    """An autocommit connection; one that can load sqlite-vec when an index needs it.

    Some Python builds (pyenv's default among them) leave out SQLite's
    extension loading; pysqlite3-binary, the same DB-API with its own
    SQLite, has it, and aiosqlite takes any DB-API connector.
    """
    if not loads_extensions or hasattr(sqlite3.Connection, "enable_load_extension"):
        return aiosqlite.connect(path, isolation_level=None)
    try:
        from pysqlite3 import dbapi2
    except ImportError:
        raise EmbeddingsUnavailable(
            "this Python's sqlite3 cannot load extensions, which the SQLite store's index "
            "(sqlite-vec) needs: pip install pysqlite3-binary"
        ) from None
    connector = functools.partial(dbapi2.connect, str(path), isolation_level=None)
    return aiosqlite.Connection(connector, iter_chunk_size=64)


@asynccontextmanager
async def open_longterm_store(
    settings: Settings, postgres: PostgresBackend | None = None
) -> AsyncIterator[BaseStore]:
    """The store ``settings.storage.backend`` names; ``postgres`` is the open
    storage's backend (``Storage.postgres``), required for "postgres"."""
    http = httpx.AsyncClient(timeout=settings.llm.timeout_s)
    index = index_config(settings, http)
    async with http:
        if settings.storage.backend == "memory":
            yield InMemoryStore(index=index)
        elif settings.storage.backend == "postgres":
            if postgres is None:
                raise ValueError("the postgres store needs the open storage's backend")
            from app.store.longterm_postgres import open_postgres_store

            async with open_postgres_store(postgres, index, _ttl(settings)) as store:
                yield store
        else:
            async with _open_sqlite(settings, index) as store:
                yield store


def _ttl(settings: Settings) -> TTLConfig:
    ttl = TTLConfig(refresh_on_read=settings.store.ttl_refresh_on_read)
    if settings.store.default_ttl_minutes is not None:
        ttl["default_ttl"] = settings.store.default_ttl_minutes
    return ttl


@asynccontextmanager
async def _open_sqlite(settings: Settings, index: IndexConfig | None) -> AsyncIterator[BaseStore]:
    path = store_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    ttl = _ttl(settings)
    # Autocommit mode: the store issues its own BEGIN/COMMIT (as its
    # ``from_conn_string`` sets up), which sqlite3's implicit transactions break.
    async with _connect(path, loads_extensions=index is not None) as conn:
        await conn.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
        store = AsyncSqliteStore(conn, index=index, ttl=ttl)
        await store.setup()
        yield store
