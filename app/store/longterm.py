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

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite
from langgraph.store.base import BaseStore, IndexConfig, TTLConfig
from langgraph.store.memory import InMemoryStore
from langgraph.store.sqlite.aio import AsyncSqliteStore

from app.settings import Settings
from app.store.embeddings import build_embeddings

__all__ = ["index_config", "open_longterm_store", "store_file"]


def store_file(settings: Settings) -> Path:
    path = settings.store.sqlite_path
    return path if path.is_absolute() else settings.data_dir / path


def index_config(settings: Settings) -> IndexConfig | None:
    """The semantic index the settings ask for, or None (no ``query`` search)."""
    embeddings, dims = build_embeddings(settings)
    if embeddings is None:
        return None
    return IndexConfig(dims=dims, embed=embeddings, fields=list(settings.store.index_fields))


@asynccontextmanager
async def open_longterm_store(settings: Settings) -> AsyncIterator[BaseStore]:
    index = index_config(settings)
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
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await conn.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
        store = AsyncSqliteStore(conn, index=index, ttl=ttl)
        await store.setup()
        yield store
