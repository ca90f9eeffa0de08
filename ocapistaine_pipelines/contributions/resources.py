"""Resources of the contributions domain, built from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

from ..settings import env_number
from .sources import ContributionsSourceResource
from .validators import DEFAULT_LLM_MODELS, ValidatorResource


def _secret(env: Mapping[str, str], name: str, explicit: bool):
    """An EnvVar (the UI shows its name, never its value) unless tests pass the environment explicitly.

    Also for URLs and paths that may carry a credential (``?token=``, ``user:password@``)."""
    if not env.get(name):
        return None
    return env[name] if explicit else dg.EnvVar(name)


def resources_from_env(environ: Mapping[str, str] | None = None) -> dict:
    env = os.environ if environ is None else environ
    explicit = environ is not None
    validator_kwargs: dict = {
        "backend": env.get("OCAPISTAINE_VALIDATOR", "rules") or "rules",
        "models": env.get("OCAPISTAINE_LLM_MODELS", DEFAULT_LLM_MODELS) or DEFAULT_LLM_MODELS,
        "concurrency": env_number(env, "OCAPISTAINE_LLM_CONCURRENCY", 4, integer=True, positive=True),
    }
    api_base = _secret(env, "OCAPISTAINE_LLM_API_BASE", explicit)  # a gateway URL may carry a key
    if api_base is not None:
        validator_kwargs["api_base"] = api_base
    if env.get("OCAPISTAINE_LLM_TIMEOUT"):
        validator_kwargs["timeout_seconds"] = env_number(
            env, "OCAPISTAINE_LLM_TIMEOUT", 60.0, positive=True, unit="seconds"
        )
    if env.get("OCAPISTAINE_LLM_CALLS"):
        validator_kwargs["llm_calls"] = env["OCAPISTAINE_LLM_CALLS"]
    api_key = _secret(env, "OCAPISTAINE_LLM_API_KEY", explicit)
    if api_key is not None:
        validator_kwargs["api_key"] = api_key
    if env.get("OCAPISTAINE_EMBEDDING_MODEL", "").strip():
        validator_kwargs["embedding_model"] = env["OCAPISTAINE_EMBEDDING_MODEL"].strip()
    # EnvVars: a base URL may carry a key, a path may name a user
    for name, field in (
        ("OCAPISTAINE_EMBEDDING_API_BASE", "embedding_api_base"),
        ("OCAPISTAINE_EMBEDDING_API_KEY", "embedding_api_key"),
        ("OCAPISTAINE_LABELLED_DATA", "labelled_data"),
    ):
        value = _secret(env, name, explicit)
        if value is not None:
            validator_kwargs[field] = value

    source_kwargs: dict = {}
    source = _secret(env, "OCAPISTAINE_CONTRIBUTIONS_SOURCE", explicit)  # an n8n URL may carry ?token=
    if source is not None:
        source_kwargs["source"] = source
    if env.get("OCAPISTAINE_CONTRIBUTIONS_MAX_PAGES"):
        source_kwargs["max_pages"] = env_number(
            env, "OCAPISTAINE_CONTRIBUTIONS_MAX_PAGES", 200, integer=True, positive=True, unit="pages"
        )
    if env.get("OCAPISTAINE_GITHUB_API_URL"):
        source_kwargs["github_api_url"] = env["OCAPISTAINE_GITHUB_API_URL"]
    token = _secret(env, "GITHUB_TOKEN", explicit)
    if token is not None:
        source_kwargs["github_token"] = token
    return {
        "validator": ValidatorResource(**validator_kwargs),
        "contributions_source": ContributionsSourceResource(**source_kwargs),
    }
