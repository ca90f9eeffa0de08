"""The labelled set: the packaged one, an OCAPISTAINE_EVAL_DATASET file, and records that cannot be used."""

from __future__ import annotations

import json
import uuid

import pytest

from ocapistaine_pipelines.contributions.model import CATEGORIES, VIOLATION_KINDS
from ocapistaine_pipelines.evaluation.dataset import DatasetError, load_labelled_set, opik_item_id
from ocapistaine_pipelines.evaluation.resources import resources_from_env

from .conftest import small_export


def test_packaged_set_is_large_enough_and_labelled():
    labelled = load_labelled_set()
    assert labelled.source.endswith("ocapistaine_pipelines/data/labelled_contributions.json")
    assert len(labelled.items) >= 60 and not labelled.rejected
    assert {item.expected_valid for item in labelled.items} == {True, False}
    assert {item.expected_category for item in labelled.items} <= set(CATEGORIES)
    for item in labelled.items:
        assert set(item.violations_injected) <= set(VIOLATION_KINDS)
        assert bool(item.violations_injected) == (not item.expected_valid)
        assert item.contribution.category is None  # the answer key is hidden from the validator


def test_export_file_labels_unlabelled_and_rejected(labelled_file):
    labelled = load_labelled_set(labelled_file)
    ids = [item.id for item in labelled.items]
    assert len(ids) == 20 and len(set(ids)) == 20
    assert labelled.unlabelled == ["unlabelled-1", "unlabelled-2"]
    reasons = dict(labelled.rejected)
    assert "title is int" in reasons["broken-1"]
    assert "duplicate id" in reasons["ok-01"]
    first = next(item for item in labelled.items if item.id == "ok-01")
    assert first.expected_valid is True  # the first record with that id is the one kept
    bad = next(item for item in labelled.items if item.id == "bad-03")
    assert bad.expected_valid is False and bad.violations_injected == ("aggressive",)
    assert bad.expected_category == "culture"


def test_labels_are_read_leniently_but_nonsense_is_rejected(tmp_path):
    extra = [
        {**small_export()["contributions"][0], "id": "s-true", "expected_valid": "true"},
        {
            **small_export()["contributions"][0],
            "id": "s-zero",
            "expected_valid": 0,
            "violations_injected": "spam",
        },
        {**small_export()["contributions"][0], "id": "s-maybe", "expected_valid": "maybe"},
        {**small_export()["contributions"][0], "id": "s-kinds", "violations_injected": {"a": 1}},
        {**small_export()["contributions"][0], "id": "s-alias", "category": "Environnement"},
        {**small_export()["contributions"][0], "id": "s-unknown", "category": "sports"},
        "not an object",
        {**small_export()["contributions"][0], "id": None},
    ]
    path = tmp_path / "set.json"
    path.write_text(json.dumps(small_export(extra)), encoding="utf-8")
    labelled = load_labelled_set(path)
    by_id = {item.id: item for item in labelled.items}
    assert by_id["s-true"].expected_valid is True
    assert by_id["s-zero"].expected_valid is False and by_id["s-zero"].violations_injected == ("spam",)
    assert by_id["s-alias"].expected_category == "ecologie"
    assert by_id["s-unknown"].expected_category is None
    assert any("s-unknown: unknown category 'sports'" in w for w in labelled.warnings)
    reasons = dict(labelled.rejected)
    assert "expected_valid must be true or false" in reasons["s-maybe"]
    assert "violations_injected must be a list" in reasons["s-kinds"]
    assert "not an object" in reasons["#30"] and reasons["#31"] == "no id"


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "not found"),
        ("{not json", "not valid JSON"),
        ('{"count": 0}', "no 'contributions' list"),
        ('"text"', "must be a JSON object"),
        ('{"contributions": [{"id": "a", "constat_factuel": "x"}]}', "no usable labelled item (1 unlabelled"),
    ],
)
def test_unusable_files_fail_with_a_clear_reason(tmp_path, content, message):
    path = tmp_path / "set.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(DatasetError, match=message.replace("(", r"\(")):
        load_labelled_set(path)


def test_opik_item_ids_are_stable_uuid7():
    first = opik_item_id("lab-001")
    assert first == opik_item_id("lab-001") != opik_item_id("lab-002")
    parsed = uuid.UUID(first)
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122


def test_resources_from_env():
    resources = resources_from_env({})
    assert not resources["opik"].configured and resources["opik"].project_name == "ocapistaine"
    assert resources["evaluation_settings"].dataset_path is None
    assert resources["evaluation_settings"].min_accuracy == 0.75

    env = {
        "OPIK_URL_OVERRIDE": "http://opik.internal:5173/api",
        "OPIK_WORKSPACE": "audierne",
        "OPIK_PROJECT_NAME": "forseti",
        "OPIK_API_KEY": "secret-key",
        "OCAPISTAINE_EVAL_DATASET": "/srv/labelled.json",
        "OCAPISTAINE_MIN_ACCURACY": "0.8",
    }
    resources = resources_from_env(env)
    opik = resources["opik"]
    assert opik.configured and opik.workspace == "audierne" and opik.project_name == "forseti"
    assert "secret-key" not in opik.location() and "opik.internal:5173/api" in opik.location()
    assert opik.redact("key=secret-key") == "key=***"
    assert resources["evaluation_settings"].dataset_path == "/srv/labelled.json"
    assert resources["evaluation_settings"].min_accuracy == 0.8
    assert resources_from_env({"OPIK_URL_OVERRIDE": "http://x/api"})["opik"].configured

    with pytest.raises(ValueError, match="OCAPISTAINE_MIN_ACCURACY must be a number"):
        resources_from_env({"OCAPISTAINE_MIN_ACCURACY": "high"})
    with pytest.raises(ValueError, match="between 0 and 1"):
        resources_from_env({"OCAPISTAINE_MIN_ACCURACY": "75"})


def test_the_api_key_is_an_env_var_in_production(monkeypatch):
    import dagster as dg

    monkeypatch.setenv("OPIK_API_KEY", "from-the-environment")
    opik = resources_from_env()["opik"]
    # an EnvVar: the Dagster UI shows the variable's name, never its value
    assert isinstance(opik.api_key, dg.EnvVar) and opik.api_key == "OPIK_API_KEY"


def test_out_of_range_dates_and_odd_ids_are_rejected_not_a_crash(tmp_path):
    """Dates the datetime module refuses with OSError/OverflowError, and ids str() cannot print, are rejected
    with a reason; the rest of the set still loads."""
    base = small_export()["contributions"][0]
    extra = [
        {**base, "id": "d-big", "created_at": 1e20},
        {**base, "id": "d-neg", "created_at": -1e18},
        {**base, "id": "d-inf", "created_at": float("inf")},  # written as the JSON literal Infinity
        {**base, "id": "d-nan", "date": float("nan")},
        {**base, "id": "d-9999", "created_at": "9999-12-31T23:59:59Z"},  # no Paris day for it
        {**base, "id": ["a", "list"]},
        {**base, "id": "d-ok", "created_at": 1772406000},
    ]
    path = tmp_path / "set.json"
    path.write_text(json.dumps(small_export(extra)), encoding="utf-8")
    assert "Infinity" in path.read_text()
    labelled = load_labelled_set(path)
    reasons = dict(labelled.rejected)
    for item_id in ("d-big", "d-neg", "d-inf", "d-nan", "d-9999"):
        assert reasons[item_id].startswith("not a contribution: not a date"), reasons[item_id]
    assert reasons["#29"] == "id is list, expected text or integer"
    assert "d-ok" in [item.id for item in labelled.items] and len(labelled.items) == 21


def test_an_integer_too_long_to_read_is_a_clear_dataset_error(tmp_path):
    path = tmp_path / "set.json"
    path.write_text(
        '{"contributions": [{"id": "a", "constat_factuel": "x", "expected_valid": true, '
        '"created_at": ' + "1" * 5000 + "}]}",
        encoding="utf-8",
    )
    with pytest.raises(DatasetError, match="is not valid JSON: Exceeds the limit"):
        load_labelled_set(path)
