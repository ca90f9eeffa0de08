"""The full ``opik_experiment`` asset and its check, with Opik unconfigured, on a real redis-server."""

from __future__ import annotations

import json
import subprocess
import sys

import dagster as dg
import pandas as pd
import pytest

from ocapistaine_pipelines.contributions.validators import ValidatorResource
from ocapistaine_pipelines.evaluation.assets import (
    accuracy_check_for_days,
    accuracy_check_result,
    opik_experiment,
    opik_experiment_accuracy,
)
from ocapistaine_pipelines.evaluation.metrics import METRIC_NAMES
from ocapistaine_pipelines.evaluation.resources import EvaluationSettings, OpikResource
from ocapistaine_pipelines.guard import TASK_OPIK_EXPERIMENT, lock_key, success_key

from ..dagster_instances import ephemeral
from ..guard_helpers import plain_value
from .conftest import ScriptedValidatorResource


def materialize(resources: dict, day: str, **kwargs) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [opik_experiment, opik_experiment_accuracy],
        partition_key=day,
        resources=resources,
        **{"instance": ephemeral(), **kwargs},
    )


def materialization(result: dg.ExecuteInProcessResult) -> dict:
    events = result.asset_materializations_for_node("opik_experiment")
    assert len(events) == 1
    return {key: plain_value(value) for key, value in events[0].metadata.items()}


def check_result(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 1
    return evaluations[0]


def parquet(data_dir, day: str) -> pd.DataFrame:
    return pd.read_parquet(data_dir.root / "evaluation" / f"{day}.parquet")


def test_a_day_without_opik(eval_resources, data_dir, app_db, scheduler_db):
    resources = {**eval_resources, "validator": ScriptedValidatorResource(wrong_ids=["ok-02", "bad-05"])}
    result = materialize(resources, "2026-03-02")
    assert result.success
    meta = materialization(result)
    assert meta["accuracy"] == pytest.approx(0.9)
    assert meta["precision"] == pytest.approx(0.9) and meta["recall"] == pytest.approx(0.9)
    assert meta["f1"] == pytest.approx(0.9) and meta["category_accuracy"] == 1.0
    counts = (meta["items"], meta["items_unlabelled"], meta["items_rejected"], meta["items_pending"])
    assert counts == (20, 2, 2, 0)
    assert meta["opik"] == "not configured" and meta["status"] == "success"
    assert meta["experiment_name"] == "forseti_validation_20260302"
    assert meta["confusion_matrix"] == [  # invalid is the positive class: TP 9, FN 1, FP 1, TN 9
        {"expected": "invalid", "invalid": 9, "valid": 1, "pending": 0},
        {"expected": "valid", "invalid": 1, "valid": 9, "pending": 0},
    ]
    misses = meta["worst_misses"]
    assert {row["id"] for row in misses} == {"ok-02", "bad-05"}
    assert {(row["expected"], row["predicted"]) for row in misses} == {
        ("valid", "invalid"),
        ("invalid", "valid"),
    }
    rejected = {row["record"]: row["reason"] for row in meta["rejected"]}
    assert len(rejected) == 2 and "broken-1" in str(rejected) and "duplicate id" in str(rejected)

    frame = parquet(data_dir, "2026-03-02")
    assert len(frame) == 20 and set(METRIC_NAMES) <= set(frame.columns)
    assert {"id", "expected", "predicted"} <= set(frame.columns)
    wrong = frame.set_index("id").loc[["ok-02", "bad-05"]]
    assert wrong["charter_accuracy"].tolist() == [0.0, 0.0]
    assert wrong["predicted"].tolist() == [False, True]
    assert frame["charter_accuracy"].mean() == pytest.approx(0.9)
    assert frame.set_index("id").loc["ok-02", "confidence_calibration"] == pytest.approx(0.1)

    latest = json.loads(app_db.get("experiment:latest"))
    assert set(latest) == {"experiment_id", "date", "metrics", "status"}
    assert latest["date"] == "20260302" and latest["status"] == "local" and latest["experiment_id"] is None
    assert latest["metrics"]["accuracy"] == 0.9 and latest["metrics"]["items_unlabelled"] == 2
    assert scheduler_db.get(success_key(TASK_OPIK_EXPERIMENT, "2026-03-02")) == "completed"
    assert scheduler_db.get(lock_key(TASK_OPIK_EXPERIMENT, "2026-03-02")) is None

    check = check_result(result)
    assert check.passed and "first evaluation" in check.metadata["compared_with"].value


def test_the_day_is_recurring_it_runs_again_after_success(eval_resources, data_dir, scheduler_db):
    assert materialize(eval_resources, "2026-03-02").success
    assert parquet(data_dir, "2026-03-02")["charter_accuracy"].mean() == 1.0
    again = {**eval_resources, "validator": ScriptedValidatorResource(wrong_ids=["ok-01"])}
    meta = materialization(materialize(again, "2026-03-02"))
    assert meta["status"] == "success" and meta["accuracy"] == pytest.approx(0.95)
    assert parquet(data_dir, "2026-03-02")["charter_accuracy"].mean() == pytest.approx(0.95)


@pytest.mark.slow
def test_check_floor_and_drop_from_the_previous_evaluation(eval_resources, data_dir):
    def run(day: str, wrong: int, min_accuracy: float = 0.75) -> dg.AssetCheckEvaluation:
        ids = [f"ok-{i:02d}" for i in range(1, wrong + 1)]
        resources = {
            **eval_resources,
            "validator": ScriptedValidatorResource(wrong_ids=ids),
            "evaluation_settings": EvaluationSettings(
                dataset_path=eval_resources["evaluation_settings"].dataset_path, min_accuracy=min_accuracy
            ),
        }
        return check_result(materialize(resources, day))

    first = run("2026-03-01", 0)
    assert first.passed
    dropped = run("2026-03-02", 2)  # 1.0 -> 0.9: 10 points down, floor is fine
    assert not dropped.passed and dropped.severity == dg.AssetCheckSeverity.ERROR
    assert "dropped 10.0 points" in dropped.description and "previous day" in dropped.description
    assert dropped.metadata["previous_accuracy"].value == 1.0
    gap = run("2026-03-05", 2)  # no file for 03-04: compared with 03-02, same accuracy
    assert gap.passed
    assert gap.metadata["compared_with"].value.startswith("latest earlier evaluation (2026-03-02")
    low = run("2026-03-06", 6)  # 0.7: under the floor and 20 points down
    assert not low.passed
    assert "under the floor 75.0%" in low.description and "dropped 20.0 points" in low.description
    steady = run("2026-03-07", 6, min_accuracy=0.6)  # same 0.7 as the day before, floor lowered
    assert steady.passed and steady.metadata["drop_points"].value == pytest.approx(0.0)

    # a check run over a range of days gives one result naming the failing days
    settings = eval_resources["evaluation_settings"]
    days = ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-05"]
    combined = accuracy_check_for_days(data_dir, settings, days)
    assert not combined.passed and combined.severity == dg.AssetCheckSeverity.ERROR
    assert combined.description.startswith("2026-03-02: accuracy dropped 10.0 points")
    assert "2026-03-03: no evaluation for 2026-03-03" in combined.description
    assert [d["passed"] for d in combined.metadata["days"].value] == [True, False, False, True]
    assert accuracy_check_for_days(data_dir, settings, ["2026-03-01", "2026-03-05"]).passed


def test_a_day_held_by_another_run_is_skipped_and_the_check_warns(eval_resources, data_dir, scheduler_db):
    scheduler_db.set(lock_key(TASK_OPIK_EXPERIMENT, "2026-03-02"), "other-run", ex=300)
    result = materialize(eval_resources, "2026-03-02")
    assert result.success
    assert result.asset_materializations_for_node("opik_experiment") == []
    observations = [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"]
    assert observations
    assert observations[0].event_specific_data.asset_observation.metadata["reason"].value == "lock_held"
    assert not (data_dir.root / "evaluation" / "2026-03-02.parquet").exists()
    assert result.get_asset_check_evaluations() == []  # nothing new to check: the check step is skipped
    # the check run on its own for that day
    check = accuracy_check_result(data_dir, eval_resources["evaluation_settings"], "2026-03-02")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "no evaluation for 2026-03-02" in check.description
    assert scheduler_db.get(lock_key(TASK_OPIK_EXPERIMENT, "2026-03-02")) == "other-run"  # never deleted


def failure_description(result: dg.ExecuteInProcessResult) -> str:
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failures, "the run was expected to fail"
    return failures[0].event_specific_data.error.message


@pytest.mark.parametrize(
    "validator, message",
    [
        (
            ScriptedValidatorResource(fail_with="provider exploded"),
            "validator scripted failed: RuntimeError: provider exploded",
        ),
        (
            ScriptedValidatorResource(
                pending_ids=[f"{kind}-{i:02d}" for kind in ("ok", "bad") for i in range(1, 11)]
            ),
            "judged none of the 20 items (errors: rate limited)",
        ),
        (ValidatorResource(backend="gpt"), "OCAPISTAINE_VALIDATOR='gpt'"),
    ],
)
def test_a_validator_that_cannot_judge_fails_the_day(
    eval_resources, data_dir, app_db, scheduler_db, validator, message
):
    result = materialize({**eval_resources, "validator": validator}, "2026-03-02", raise_on_error=False)
    assert not result.success
    assert message in failure_description(result)
    assert not (data_dir.root / "evaluation" / "2026-03-02.parquet").exists()
    assert app_db.get("experiment:latest") is None
    assert scheduler_db.get(success_key(TASK_OPIK_EXPERIMENT, "2026-03-02")) is None
    assert scheduler_db.get(lock_key(TASK_OPIK_EXPERIMENT, "2026-03-02")) is None  # released


def test_pending_verdicts_count_as_misses_with_a_warning(eval_resources, data_dir):
    resources = {**eval_resources, "validator": ScriptedValidatorResource(pending_ids=["bad-01", "ok-09"])}
    meta = materialization(materialize(resources, "2026-03-02"))
    assert meta["items_pending"] == 2 and meta["accuracy"] == pytest.approx(0.9)
    assert meta["recall"] == pytest.approx(0.9) and meta["precision"] == 1.0
    assert any("2 of 20 verdicts are pending" in w for w in meta["warnings"])
    assert meta["confusion_matrix"][0] == {"expected": "invalid", "invalid": 9, "valid": 0, "pending": 1}
    frame = parquet(data_dir, "2026-03-02").set_index("id")
    assert pd.isna(frame.loc["bad-01", "predicted"]) and frame.loc["bad-01", "error"] == "rate limited"
    assert frame.loc["ok-09", "output_format"] == 0.0


def test_a_missing_labelled_set_fails_with_its_path(eval_resources, tmp_path, scheduler_db):
    missing = tmp_path / "nowhere.json"
    resources = {**eval_resources, "evaluation_settings": EvaluationSettings(dataset_path=str(missing))}
    result = materialize(resources, "2026-03-02", raise_on_error=False)
    assert not result.success
    assert f"labelled set not found: {missing}" in failure_description(result)
    assert scheduler_db.get(success_key(TASK_OPIK_EXPERIMENT, "2026-03-02")) is None


def test_an_older_day_does_not_replace_the_latest_experiment(eval_resources, app_db):
    assert materialize(eval_resources, "2026-03-05").success
    worse = ScriptedValidatorResource(wrong_ids=["ok-01"])
    older = materialize({**eval_resources, "validator": worse}, "2026-03-01")
    assert materialization(older)["experiment_latest"] == "kept (a later day is stored)"
    latest = json.loads(app_db.get("experiment:latest"))
    assert latest["date"] == "20260305" and latest["metrics"]["accuracy"] == 1.0


def test_the_rules_validator_on_the_packaged_set(base_resources, opik_env, data_dir):
    resources = {
        **base_resources,
        "validator": ValidatorResource(backend="rules"),
        "opik": OpikResource(),
        "evaluation_settings": EvaluationSettings(),
    }
    result = materialize(resources, "2026-03-02")
    meta = materialization(result)
    frame = parquet(data_dir, "2026-03-02")
    assert meta["items"] == len(frame) >= 60 and meta["items_unlabelled"] == 0
    assert meta["accuracy"] == pytest.approx(frame["charter_accuracy"].mean())
    assert meta["category_accuracy"] == pytest.approx(frame["category_accuracy"].mean())
    assert meta["validator"].startswith("rules (")
    assert frame["output_format"].min() == 1.0  # the rules backend always answers in the right shape
    print(
        f"rules validator on the packaged set: accuracy {meta['accuracy']:.3f}, f1 {meta['f1']:.3f}, "
        f"category {meta['category_accuracy']:.3f}"
    )


@pytest.mark.slow
def test_definitions_wire_the_asset_without_importing_opik():
    code = (
        "import sys, warnings; warnings.simplefilter('ignore');"
        "from ocapistaine_pipelines.definitions import defs;"
        "import dagster as dg;"
        "graph = defs.get_repository_def().asset_graph;"
        "node = graph.get(dg.AssetKey('opik_experiment'));"
        "print(sorted(k.to_user_string() for k in node.parent_keys), node.group_name,"
        " sorted(c.name for c in graph.asset_check_keys if c.asset_key == node.key),"
        " sorted(m for m in ('opik', 'litellm', 'firecrawl') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['contributions_analysis'] evaluation ['opik_experiment_accuracy'] []"


def test_a_backfill_range_evaluates_each_day_once(eval_resources, data_dir, app_db, scheduler_db):
    tags = {
        "dagster/asset_partition_range_start": "2026-03-01",
        "dagster/asset_partition_range_end": "2026-03-03",
    }
    result = dg.materialize(
        [opik_experiment, opik_experiment_accuracy], resources=eval_resources, tags=tags, instance=ephemeral()
    )
    assert result.success
    events = result.asset_materializations_for_node("opik_experiment")
    assert sorted(e.partition for e in events) == ["2026-03-01", "2026-03-02", "2026-03-03"]
    for day in ("2026-03-01", "2026-03-02", "2026-03-03"):
        assert len(parquet(data_dir, day)) == 20
        assert scheduler_db.get(success_key(TASK_OPIK_EXPERIMENT, day)) == "completed"
    assert json.loads(app_db.get("experiment:latest"))["date"] == "20260303"


# -- the accuracy check: unpartitioned, its day from the run --------------------------------------------


@pytest.mark.slow
def test_the_check_is_not_a_partitioned_check_and_loading_warns_no_preview():
    [spec] = opik_experiment_accuracy.check_specs
    assert spec.partitions_def is None
    out = subprocess.run(
        [sys.executable, "-W", "always", "-c", "import ocapistaine_pipelines.definitions"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "partitions_def on an AssetCheckSpec" not in out.stderr


def _check_alone(resources: dict, instance, **kwargs) -> dg.AssetCheckEvaluation:
    result = dg.materialize(
        [opik_experiment, opik_experiment_accuracy],
        selection=dg.AssetSelection.checks(opik_experiment_accuracy),
        resources=resources,
        instance=instance,
        **kwargs,
    )
    return check_result(result)


@pytest.mark.slow
def test_the_check_run_alone_takes_its_day_from_the_run_else_the_latest_materialized(
    eval_resources, data_dir
):
    with dg.instance_for_test() as instance:
        # before any materialization and without a partition: nothing to check, said so
        nothing = _check_alone(eval_resources, instance)
        assert not nothing.passed and "no day to check" in nothing.description

        assert materialize(eval_resources, "2026-03-01", instance=instance).success  # accuracy 1.0
        worse = {**eval_resources, "validator": ScriptedValidatorResource(wrong_ids=["ok-01", "ok-02"])}
        assert materialize(worse, "2026-03-02", instance=instance).success  # 0.9: 10 points down

        first = _check_alone(eval_resources, instance, tags={"dagster/partition": "2026-03-01"})
        assert first.passed and first.metadata["partition"].value == "2026-03-01"
        latest = _check_alone(eval_resources, instance)  # no partition: the latest materialized day
        assert not latest.passed and latest.metadata["partition"].value == "2026-03-02"
        assert "dropped 10.0 points" in latest.description
        ranged = _check_alone(
            eval_resources,
            instance,
            tags={
                "dagster/asset_partition_range_start": "2026-03-01",
                "dagster/asset_partition_range_end": "2026-03-03",
            },
        )
        assert [d["day"] for d in ranged.metadata["days"].value] == ["2026-03-01", "2026-03-02", "2026-03-03"]
        assert [d["passed"] for d in ranged.metadata["days"].value] == [True, False, False]


def test_a_parquet_that_cannot_be_written_fails_the_day_and_leaves_no_temporary_file(
    eval_resources, data_dir, scheduler_db
):
    folder = data_dir.root / "evaluation"
    (folder / "2026-03-02.parquet").mkdir(parents=True)  # a directory where the file goes: the rename fails
    result = materialize(eval_resources, "2026-03-02", raise_on_error=False)
    assert not result.success
    assert sorted(p.name for p in folder.iterdir()) == ["2026-03-02.parquet"]  # no *.tmp left behind
    assert scheduler_db.get(success_key(TASK_OPIK_EXPERIMENT, "2026-03-02")) is None
