"""The Opik path: the real opik SDK against a loopback server that answers its REST calls."""

from __future__ import annotations

import json
import re

import dagster as dg
import pandas as pd
import pytest

from ocapistaine_pipelines.evaluation.assets import opik_experiment, opik_experiment_accuracy
from ocapistaine_pipelines.evaluation.dataset import opik_item_id
from ocapistaine_pipelines.evaluation.metrics import METRIC_NAMES
from ocapistaine_pipelines.evaluation.resources import OpikResource
from ocapistaine_pipelines.guard import TASK_OPIK_EXPERIMENT, success_key

from ..dagster_instances import ephemeral
from .conftest import OPIK_KEY, ScriptedValidatorResource, small_export

PRIVATE = "/api/v1/private"
KNOWN_PATHS = {
    "/api/is-alive/ping",
    "/api/is-alive/ver",
    *(
        f"{PRIVATE}/{p}"
        for p in (
            "datasets/retrieve",
            "datasets",
            "projects/retrieve",
            "datasets/items",
            "datasets/items/stream",
            "experiments",
            "experiments/items",
            "experiments/finish",
            "traces/batch",
            "spans/batch",
            "traces/feedback-scores",
        )
    ),
}


def opik_resource(server, api_key: str = OPIK_KEY) -> OpikResource:
    return OpikResource(
        url_override=server.url, api_key=api_key, workspace="audierne", flush_timeout_seconds=5
    )


def materialize(resources: dict, day: str, **kwargs) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [opik_experiment, opik_experiment_accuracy],
        partition_key=day,
        resources=resources,
        **{"instance": ephemeral(), **kwargs},
    )


def scores_by_contribution(server) -> dict[tuple[str, str], float]:
    """(contribution id, metric) -> the feedback score the server received for that item's trace."""
    contribution_of_trace = {trace["id"]: trace["input"]["contribution_id"] for trace in server.state.traces}
    return {
        (contribution_of_trace[score["id"]], score["name"]): score["value"]
        for score in server.state.feedback_scores
    }


@pytest.mark.slow
def test_the_experiment_is_recorded_in_opik(eval_resources, opik_server, data_dir, app_db, scheduler_db):
    resources = {
        **eval_resources,
        "opik": opik_resource(opik_server),
        "validator": ScriptedValidatorResource(wrong_ids=["ok-02", "bad-05"]),
    }
    result = materialize(resources, "2026-03-02")
    assert result.success
    event = result.asset_materializations_for_node("opik_experiment")[0]
    meta = {k: v.value for k, v in event.metadata.items()}
    state = opik_server.state

    # the dataset, created once, with the 20 labelled items and their labels
    created = opik_server.calls("POST", f"{PRIVATE}/datasets")
    assert [c.body["name"] for c in created] == ["forseti_validation"]
    assert created[0].body["project_name"] == "ocapistaine"
    items = state.items["forseti_validation"]
    assert len(items) == 20
    bad05 = items[opik_item_id("bad-05")]["data"]
    assert bad05["contribution_id"] == "bad-05" and bad05["expected_valid"] is False
    assert bad05["violations_injected"] == ["aggressive"] and bad05["expected_category"] == "culture"

    # the experiment, named after the day, with the validator and the model
    (experiment,) = state.experiments.values()
    assert experiment["name"] == "forseti_validation_20260302"
    assert experiment["dataset_name"] == "forseti_validation"
    assert experiment["metadata"]["validator"] == "scripted"
    assert experiment["metadata"]["model"] == "scripted-v1"
    assert state.finished == [experiment["id"]]
    assert len(state.experiment_items) == 20
    assert {i["dataset_item_id"] for i in state.experiment_items} == set(items)
    assert {s["name"]: s["value"] for s in experiment["experiment_scores"]} == pytest.approx(
        {"accuracy": 0.9, "precision": 0.9, "recall": 0.9, "f1": 0.9}
    )

    # every item's five scores reached the server, equal to the ones written locally
    received = scores_by_contribution(opik_server)
    assert len(received) == 20 * len(METRIC_NAMES)
    frame = pd.read_parquet(data_dir.root / "evaluation" / "2026-03-02.parquet").set_index("id")
    for (contribution, metric), value in received.items():
        assert frame.loc[contribution, metric] == pytest.approx(value), (contribution, metric)
    assert received[("ok-02", "charter_accuracy")] == 0.0 and received[("ok-03", "charter_accuracy")] == 1.0
    assert received[("bad-05", "confidence_calibration")] == pytest.approx(0.1)

    # the raw key in Authorization, the workspace header, and compressed bodies decoded by the server
    assert {r.headers.get("authorization") for r in state.requests} == {OPIK_KEY}
    assert {r.headers.get("comet-workspace") for r in state.requests} == {"audierne"}
    assert opik_server.calls("PUT", f"{PRIVATE}/datasets/items")[0].gzipped
    assert all(r.gzipped for r in opik_server.calls("PUT", f"{PRIVATE}/traces/feedback-scores"))
    unanswered = [
        f"{r.method} {r.path}"
        for r in state.requests
        if r.path not in KNOWN_PATHS
        and not re.fullmatch(rf"{PRIVATE}/(datasets/[^/]+/versions|experiments/[^/]+)", r.path)
    ]
    assert unanswered == []  # every call the SDK made is one the loopback server models

    assert meta["opik"].startswith(f"recorded at {opik_server.url.rsplit('/api', 1)[0]}")
    assert meta["experiment_id"] == experiment["id"]
    latest = json.loads(app_db.get("experiment:latest"))
    assert latest["status"] == "completed" and latest["experiment_id"] == experiment["id"]
    assert latest["date"] == "20260302" and latest["metrics"]["accuracy"] == 0.9
    assert scheduler_db.get(success_key(TASK_OPIK_EXPERIMENT, "2026-03-02")) == "completed"


@pytest.mark.slow
def test_the_next_day_updates_the_dataset_instead_of_copying_it(eval_resources, opik_server, labelled_file):
    resources = {**eval_resources, "opik": opik_resource(opik_server)}
    assert materialize(resources, "2026-03-02").success

    export = small_export()
    edited = next(r for r in export["contributions"] if r["id"] == "ok-03")
    edited["constat_factuel"] = "Le parking du port est plein en août."
    edited["body"] = ""  # rebuilt from the two fields
    labelled_file.write_text(json.dumps(export, ensure_ascii=False), encoding="utf-8")
    assert materialize(resources, "2026-03-03").success

    state = opik_server.state
    assert len(opik_server.calls("POST", f"{PRIVATE}/datasets")) == 1  # found the second time, not re-created
    assert len(state.items["forseti_validation"]) == 20  # same ids: updated in place, no copies
    assert "parking du port" in state.items["forseti_validation"][opik_item_id("ok-03")]["data"]["body"]
    uploads = opik_server.calls("PUT", f"{PRIVATE}/datasets/items")
    first, last = ([item["id"] for item in upload.body["items"]] for upload in (uploads[0], uploads[-1]))
    assert first == last
    names = sorted(e["name"] for e in state.experiments.values())
    assert names == ["forseti_validation_20260302", "forseti_validation_20260303"]
    assert len(state.experiment_items) == 40


def test_opik_refusing_the_experiment_keeps_the_local_scores_and_fails_the_day(
    eval_resources, opik_server, data_dir, app_db, scheduler_db
):
    wrong_key = "not-the-right-key-93b1"
    resources = {**eval_resources, "opik": opik_resource(opik_server, api_key=wrong_key)}
    result = materialize(resources, "2026-03-02", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert "Opik is configured" in message and "the experiment was not recorded" in message
    assert "401" in message
    assert wrong_key not in message
    assert wrong_key not in "".join(str(e.message) for e in result.all_events)
    # never lose data: the scores are written, the app sees the failure, the day is not marked done
    assert (data_dir.root / "evaluation" / "2026-03-02.parquet").exists()
    latest = json.loads(app_db.get("experiment:latest"))
    assert latest["status"] == "opik_failed" and latest["experiment_id"] is None
    assert latest["metrics"]["accuracy"] == 1.0
    assert scheduler_db.get(success_key(TASK_OPIK_EXPERIMENT, "2026-03-02")) is None
    assert opik_server.state.experiments == {}


def test_items_of_others_in_the_dataset_are_left_alone(eval_resources, opik_server):
    """An existing forseti_validation (the team's older items) is reused: nothing deleted or evaluated."""
    foreign_id = "01900000-0000-7000-8000-000000000001"
    foreign = {"id": foreign_id, "source": "manual", "data": {"contribution_id": "ok-01", "note": "legacy"}}
    opik_server.add_dataset("forseti_validation", [foreign])
    assert materialize({**eval_resources, "opik": opik_resource(opik_server)}, "2026-03-02").success
    state = opik_server.state
    assert opik_server.calls("POST", f"{PRIVATE}/datasets") == []  # found, not re-created
    assert len(state.items["forseti_validation"]) == 21 and foreign_id in state.items["forseti_validation"]
    assert foreign_id not in {i["dataset_item_id"] for i in state.experiment_items}
    assert len(state.experiment_items) == 20


def test_an_experiment_missing_items_is_a_failure(eval_resources, opik_server, scheduler_db):
    opik_server.lose_item_ids = {opik_item_id("bad-07")}
    resources = {**eval_resources, "opik": opik_resource(opik_server)}
    result = materialize(resources, "2026-03-02", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "the experiment evaluated 19 of 20 items" in failure.event_specific_data.error.message
    assert scheduler_db.get(success_key(TASK_OPIK_EXPERIMENT, "2026-03-02")) is None


@pytest.mark.slow
def test_the_llm_validator_runs_once_per_item_not_again_for_opik(eval_resources, opik_server):
    """OCAPISTAINE_VALIDATOR=llm against a loopback LLM: one call per item (verdict + category), in all."""
    from ocapistaine_pipelines.contributions.validators import ValidatorResource

    from ..contributions.servers import FakeLLM

    llm = FakeLLM()
    try:
        validator = ValidatorResource(
            backend="llm",
            models="openai/forseti-judge",
            api_base=f"{llm.url}/v1",
            api_key="sk-loopback",
            concurrency=4,
            timeout_seconds=5.0,
        )
        resources = {**eval_resources, "opik": opik_resource(opik_server), "validator": validator}
        assert materialize(resources, "2026-03-02").success
        calls = list(llm.requests)
    finally:
        llm.stop()
    assert len(calls) == 20  # one call per item: verdict and category together
    assert [c["kind"] for c in calls] == ["verdict"] * 20
    (experiment,) = opik_server.state.experiments.values()
    assert experiment["metadata"]["validator"] == "llm"
    assert experiment["metadata"]["model"] == "openai/forseti-judge"
    assert len(opik_server.state.experiment_items) == 20


@pytest.mark.slow
def test_scores_refused_in_the_background_are_a_warning(eval_resources, opik_server):
    opik_server.fail[f"PUT {PRIVATE}/traces/feedback-scores"] = 400
    result = materialize({**eval_resources, "opik": opik_resource(opik_server)}, "2026-03-02")
    assert result.success  # the experiment exists; the asset says what is missing
    event = result.asset_materializations_for_node("opik_experiment")[0]
    warnings = event.metadata["warnings"].value
    assert any("Opik refused 1 background message(s) (100 traces, spans or scores)" in w for w in warnings)
    assert opik_server.state.feedback_scores == [] and len(opik_server.state.experiment_items) == 20
