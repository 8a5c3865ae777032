"""The long-term memory store (``/store/items``), shared with every graph.

LangGraph's own stores, chosen by ``settings.storage.backend``:

    memory   InMemoryStore                 nothing persists; no item TTL
    sqlite   AsyncSqliteStore (langgraph-checkpoint-sqlite) on its own file,
             ``store.db`` beside the main one: it runs its own transactions
             (BEGIN ... COMMIT) and must not share the connection whose
             trips commit runs and checkpoints

With ``settings.store.index_embed`` set, items are embedded on put and
``search(query=...)`` ranks by cosine similarity (sqlite-vec on SQLite).
The same object is compiled into every graph (``GraphRegistry(store=...)``),
so a node's ``store`` argument and ``get_store()`` see what clients put.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite
import httpx
from langgraph.store.base import BaseStore, IndexConfig, TTLConfig
from langgraph.store.memory import InMemoryStore
from langgraph.store.sqlite.aio import AsyncSqliteStore

from app.settings import Settings
from app.store.embeddings import EmbeddingsUnavailable, build_embeddings

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
async def open_longterm_store(settings: Settings) -> AsyncIterator[BaseStore]:
    http = httpx.AsyncClient(timeout=settings.llm.timeout_s)
    async with http, _open(settings, index_config(settings, http)) as store:
        yield store


@asynccontextmanager
async def _open(settings: Settings, index: IndexConfig | None) -> AsyncIterator[BaseStore]:
    if settings.storage.backend == "memory":
        yield InMemoryStore(index=index)
        return
    path = store_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    ttl = TTLConfig(refresh_on_read=settings.store.ttl_refresh_on_read)
    if settings.store.default_ttl_minutes is not None:
        ttl["default_ttl"] = settings.store.default_ttl_minutes
    # Autocommit mode: the store issues its own BEGIN/COMMIT (as its
    # ``from_conn_string`` sets up), which sqlite3's implicit transactions break.
    async with _connect(path, loads_extensions=index is not None) as conn:
        await conn.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
        store = AsyncSqliteStore(conn, index=index, ttl=ttl)
        await store.setup()
        yield store
