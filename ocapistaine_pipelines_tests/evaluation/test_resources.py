"""The evaluation resources from the environment: URL credentials never shown, clear errors on typos."""

from __future__ import annotations

import dagster as dg
import pytest

from ocapistaine_pipelines.evaluation.resources import OpikResource, resources_from_env

URL = "http://opik:pw-93b1@opik.internal:5173/api?token=tok-5520"


def test_the_url_override_is_an_env_var_in_production(monkeypatch):
    monkeypatch.setenv("OPIK_URL_OVERRIDE", URL)
    opik = resources_from_env()["opik"]
    # an EnvVar: the Dagster UI shows the variable's name, never the URL's credentials
    assert isinstance(opik.url_override, dg.EnvVar) and opik.url_override == "OPIK_URL_OVERRIDE"
    assert resources_from_env({"OPIK_URL_OVERRIDE": URL})["opik"].url_override == URL  # explicit: plain
    with dg.build_resources({"opik": opik}) as built:  # resolved as in a run
        assert built.opik.url_override == URL and built.opik.configured


def test_location_and_redact_drop_the_urls_credentials():
    opik = OpikResource(url_override=URL, api_key="opik-key-1")
    assert opik.location() == "http://opik.internal:5173/api workspace=default project=ocapistaine"
    message = opik.redact(f"ConnectError: {URL}/v1/private/datasets with key opik-key-1")
    for secret in ("pw-93b1", "tok-5520", "opik-key-1"):
        assert secret not in message
    encoded = OpikResource(
        url_override="http://opik:pw%2D93b1@opik.internal/api"
    )  # shown decoded by some errors
    assert "pw-93b1" not in encoded.redact(
        "auth failed for opik:pw-93b1"
    ) and "pw%2D93b1" not in encoded.redact("http://opik:pw%2D93b1@opik.internal/api")
    token_user = OpikResource(url_override="https://tok-abcdef@opik.example/api")
    assert "tok-abcdef" not in token_user.redact("GET https://tok-abcdef@opik.example/api failed")


@pytest.mark.parametrize(
    "value, words",
    [
        ("sixty", "OPIK_DEFAULT_FLUSH_TIMEOUT must be a whole number of seconds, got 'sixty'"),
        ("0", "OPIK_DEFAULT_FLUSH_TIMEOUT must be above 0, got '0'"),
        ("2.5", "must be a whole number of seconds, got '2.5'"),
        ("inf", "got 'inf'"),
    ],
)
def test_a_bad_flush_timeout_names_the_variable_and_the_value(value, words):
    with pytest.raises(ValueError) as caught:
        resources_from_env({"OPIK_DEFAULT_FLUSH_TIMEOUT": value})
    assert words in str(caught.value)


def test_flush_timeout_and_accuracy_settings_are_read():
    resources = resources_from_env(
        {"OPIK_DEFAULT_FLUSH_TIMEOUT": " 90 ", "OCAPISTAINE_MAX_ACCURACY_DROP": "2.5"}
    )
    assert resources["opik"].flush_timeout_seconds == 90
    assert resources["evaluation_settings"].max_drop_points == 2.5
    assert resources_from_env({})["opik"].flush_timeout_seconds == 60
    for name in ("OCAPISTAINE_MAX_ACCURACY_DROP", "OCAPISTAINE_MIN_ACCURACY"):
        with pytest.raises(ValueError, match=f"{name} must be a finite number, got 'nan'"):
            resources_from_env({name: "nan"})
