"""The domain's resources as the environment configures them."""

from __future__ import annotations

import dagster as dg
import pytest

from ocapistaine_pipelines.contributions.resources import resources_from_env
from ocapistaine_pipelines.contributions.rules import RulesValidator
from ocapistaine_pipelines.contributions.validators import Validator, ValidatorResource

from ..dagster_instances import ephemeral


def test_defaults_are_offline():
    resources = resources_from_env({})
    assert resources["validator"].backend == "rules"
    assert resources["validator"].concurrency == 4
    assert resources["contributions_source"].source == ""
    assert resources["contributions_source"].describe().startswith("sample export")
    validator = resources["validator"].get_validator()
    assert isinstance(validator, RulesValidator) and isinstance(validator, Validator)
    assert (validator.name, validator.model) == ("rules", "rules-v4")


def test_environment_values_and_secrets(monkeypatch):
    env = {
        "OCAPISTAINE_VALIDATOR": "llm",
        "OCAPISTAINE_LLM_MODELS": "ollama/mistral, mistral/mistral-small-latest",
        "OCAPISTAINE_LLM_API_BASE": "http://127.0.0.1:11434",
        "OCAPISTAINE_LLM_CONCURRENCY": "2",
        "OCAPISTAINE_LLM_API_KEY": "k-123",
        "OCAPISTAINE_CONTRIBUTIONS_SOURCE": "github:audierne2026/participons",
        "GITHUB_TOKEN": "ghp_abc",
    }
    explicit = resources_from_env(env)
    assert explicit["validator"].model_list() == ["ollama/mistral", "mistral/mistral-small-latest"]
    assert explicit["validator"].concurrency == 2 and explicit["validator"].api_key == "k-123"
    assert explicit["contributions_source"].github_token == "ghp_abc"
    assert explicit["contributions_source"].source == "github:audierne2026/participons"
    assert explicit["validator"].api_base == "http://127.0.0.1:11434"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from_os = resources_from_env()
    # secrets stay EnvVars: the Dagster UI shows the variable's name, not its value
    assert isinstance(from_os["contributions_source"].github_token, dg.EnvVar)
    assert isinstance(from_os["validator"].api_key, dg.EnvVar)
    # so are the source (an n8n URL may carry ?token= or user:password@) and the LLM base URL
    assert isinstance(from_os["contributions_source"].source, dg.EnvVar)
    assert from_os["contributions_source"].source == "OCAPISTAINE_CONTRIBUTIONS_SOURCE"
    assert isinstance(from_os["validator"].api_base, dg.EnvVar)


def test_the_source_env_var_is_resolved_when_the_asset_runs(monkeypatch, tmp_path, base_resources, data_dir):
    import json

    import pandas as pd

    from ocapistaine_pipelines.contributions import assets as A

    export = tmp_path / "export.json"
    export.write_text(
        json.dumps(
            {
                "generated_at": "2026-03-02T08:00:00+01:00",
                "count": 1,
                "contributions": [
                    {
                        "id": "env-1",
                        "constat_factuel": "Le port d'Audierne manque de pontons.",
                        "idees_ameliorations": "Deux.",
                    }
                ],
            }
        )
    )
    monkeypatch.setenv("OCAPISTAINE_CONTRIBUTIONS_SOURCE", str(export))
    source = resources_from_env()["contributions_source"]
    assert isinstance(source.source, dg.EnvVar)
    result = dg.materialize(
        [A.contributions],
        partition_key="2026-03-02",
        resources={**base_resources, "contributions_source": source},
        instance=ephemeral(),
    )
    assert result.success
    assert list(pd.read_parquet(A.contributions_path(data_dir, "2026-03-02"))["id"]) == ["env-1"]


@pytest.mark.parametrize(
    "env, message",
    [
        ({"OCAPISTAINE_LLM_CONCURRENCY": "many"}, "OCAPISTAINE_LLM_CONCURRENCY must be a whole number"),
        ({"OCAPISTAINE_LLM_CONCURRENCY": "0"}, "OCAPISTAINE_LLM_CONCURRENCY must be above 0"),
        ({"OCAPISTAINE_LLM_TIMEOUT": "soon"}, "OCAPISTAINE_LLM_TIMEOUT must be a number"),
        # float() accepts these, but a NaN or infinite timeout is no timeout at all
        ({"OCAPISTAINE_LLM_TIMEOUT": "nan"}, "OCAPISTAINE_LLM_TIMEOUT must be a finite number, got 'nan'"),
        ({"OCAPISTAINE_LLM_TIMEOUT": "inf"}, "OCAPISTAINE_LLM_TIMEOUT must be a finite number, got 'inf'"),
    ],
)
def test_bad_numbers_are_named(env, message):
    with pytest.raises(ValueError, match=message):
        resources_from_env(env)


def test_unknown_backend_or_empty_model_list_is_a_clear_error():
    with pytest.raises(ValueError, match="OCAPISTAINE_VALIDATOR='gpt': expected one of rules, llm"):
        ValidatorResource(backend="gpt").get_validator()
    with pytest.raises(ValueError, match="OCAPISTAINE_LLM_MODELS is empty"):
        ValidatorResource(backend="llm", models=" , ").get_validator()
