"""A range run's days get their checks, one result per day, as a one-day run has them.

The real contributions assets and checks, a 7-day range run (what ``BackfillPolicy.single_run()``
makes of a backfill), the real ``check_range_days`` sensor evaluated on a real instance, its run
requests executed as the daemon launches them (the asset job subset to the checks, with the
request's tags), and the check history read back through the instance.
"""

from __future__ import annotations

import dagster as dg
import pytest

from ocapistaine_pipelines.contributions import assets as A
from ocapistaine_pipelines.contributions.sources import ContributionsSourceResource
from ocapistaine_pipelines.contributions.validators import ValidatorResource
from ocapistaine_pipelines.orchestration.range_checks import CHECKS_OF_RUN_TAG, check_range_days

DAYS = [f"2026-03-{d:02d}" for d in range(1, 8)]
CHECKS = [A.every_row_judged_or_pending_with_error.check_key, A.categories_are_known.check_key]
RANGE = {"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[-1]}


@pytest.fixture
def defs(base_resources) -> dg.Definitions:
    resources = {
        **base_resources,
        "validator": ValidatorResource(),
        "contributions_source": ContributionsSourceResource(),
    }
    return dg.Definitions(
        assets=[A.contributions, A.contributions_analysis],
        asset_checks=[A.every_row_judged_or_pending_with_error, A.categories_are_known],
        sensors=[check_range_days],
        resources=resources,
    )


def sensor_tick(defs, instance, cursor=None):
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, repository_def=defs.get_repository_def()
    ) as context:
        return check_range_days.evaluate_tick(context)


def launch(defs, instance, request: dg.RunRequest):
    """As the daemon does: the asset job subset to the request's checks, with its tags."""
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection=set(request.asset_selection or ()),
        asset_check_selection=set(request.asset_check_keys),
    )
    return job.execute_in_process(instance=instance, tags=request.tags)


def check_history(instance, check_key) -> list:
    return instance.event_log_storage.get_asset_check_execution_history(check_key, limit=50)


@pytest.mark.slow
def test_a_7_day_range_run_gets_a_check_result_per_day(defs, instance):
    run = dg.materialize(
        [A.contributions, A.contributions_analysis],
        instance=instance,
        resources=defs.resources,
        tags=RANGE,
        selection=[A.contributions, A.contributions_analysis],
    )
    assert run.success
    for check_key in CHECKS:  # the range step evaluated no check of its own
        assert all(record.evaluation is None for record in check_history(instance, check_key))

    first = sensor_tick(defs, instance)
    assert sorted(request.tags["dagster/partition"] for request in first.run_requests) == DAYS
    for request in first.run_requests:
        assert set(request.asset_check_keys) == set(CHECKS) and not request.asset_selection
        assert request.tags[CHECKS_OF_RUN_TAG] == run.run_id
        assert launch(defs, instance, request).success

    for check_key in CHECKS:
        days = {}
        for record in check_history(instance, check_key):
            if record.evaluation is None:
                continue
            tags = instance.get_run_by_id(record.run_id).tags
            days[tags["dagster/partition"]] = record.evaluation.passed
            assert record.evaluation.metadata["days"].value == [tags["dagster/partition"]]
        assert days == {day: True for day in DAYS}, check_key

    again = sensor_tick(defs, instance, first.cursor)  # each day once
    assert again.run_requests == [] and again.skip_message


def test_a_one_day_run_checks_itself_and_asks_nothing(defs, instance):
    result = dg.materialize(
        [
            A.contributions,
            A.contributions_analysis,
            A.every_row_judged_or_pending_with_error,
            A.categories_are_known,
        ],
        instance=instance,
        resources=defs.resources,
        partition_key=DAYS[0],
    )
    assert result.success and len(result.get_asset_check_evaluations()) == 2
    assert sensor_tick(defs, instance).run_requests == []


@pytest.mark.slow
def test_days_a_range_run_skipped_are_not_checked_and_a_big_backfill_takes_several_ticks(
    defs, instance, scheduler_db, monkeypatch
):
    from ocapistaine_pipelines.guard import TASK_CONTRIBUTIONS_ANALYSIS, success_key
    from ocapistaine_pipelines.orchestration import range_checks

    monkeypatch.setattr(range_checks, "MAX_REQUESTS_PER_TICK", 1)
    for day in DAYS[:4]:  # done before: the range run skips them (no materialization)
        scheduler_db.set(success_key(TASK_CONTRIBUTIONS_ANALYSIS, day.replace("-", "")), "completed")
    assert dg.materialize(
        [A.contributions, A.contributions_analysis], instance=instance, resources=defs.resources, tags=RANGE
    ).success
    seen, cursor = [], None
    for _ in range(5):
        data = sensor_tick(defs, instance, cursor)
        cursor = data.cursor
        seen += [request.tags["dagster/partition"] for request in data.run_requests]
    assert seen == DAYS[4:]
    # a sensor that starts (or restarts) later does not check the history: only what is recent
    monkeypatch.setattr(range_checks, "LOOK_BACK_SECONDS", -60)  # everything counts as old
    assert sensor_tick(defs, instance).run_requests == []
