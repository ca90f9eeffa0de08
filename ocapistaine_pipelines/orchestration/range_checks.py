"""Checks for every day of a range run, as a one-day run has them.

A range run (a single-run backfill) reports each day it completed as an ``AssetMaterialization`` of
that partition (``guard/runner.py``: one output would mark the skipped days too). Dagster evaluates
a step's checks on its output only, so after a 7-day backfill the checks read "Skipped" and the
lineage "0 / 2 Passed". This sensor watches the materializations of assets that have checks and,
for each day a range run materialized, requests a checks-only run of that day: the checks then
read the day exactly as in a one-day run (``partitions.days_of_check_run``), and each day has its
own result in the check's history.
"""

from __future__ import annotations

import json
import time

import dagster as dg

from .chain import PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG

#: On a checks-only run: the range run whose day it checks.
CHECKS_OF_RUN_TAG = "ocapistaine/checks_of_run"
#: Checks-only runs wait in the queue behind task runs (QueuedRunCoordinator: higher priority first).
CHECK_RUN_PRIORITY = "-1"
#: Runs requested per tick at most (a month's backfill is checked over a few ticks).
MAX_REQUESTS_PER_TICK = 40
RECORDS_PER_QUERY = 200
#: Range days materialized longer ago are passed over (a first tick, a sensor stopped for days).
LOOK_BACK_SECONDS = 24 * 3600


def is_range_run(run: dg.DagsterRun | None) -> bool:
    tags = run.tags if run else {}
    return not tags.get(PARTITION_TAG) and bool(tags.get(RANGE_START_TAG) and tags.get(RANGE_END_TAG))


def checks_by_asset(repository: dg.RepositoryDefinition) -> dict[dg.AssetKey, list[dg.AssetCheckKey]]:
    out: dict[dg.AssetKey, list[dg.AssetCheckKey]] = {}
    for check_key in sorted(repository.asset_graph.asset_check_keys, key=lambda k: k.to_user_string()):
        out.setdefault(check_key.asset_key, []).append(check_key)
    return out


@dg.sensor(
    name="check_range_days",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    target=dg.AssetSelection.all_asset_checks(),
    description="After a range run (a backfill as one run), runs the asset checks of each day it "
    "materialized, one checks-only run per day (tag dagster/partition): every day gets its results.",
)
def check_range_days(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    """Cursor: per asset, the storage id of the last materialization looked at."""
    try:
        cursor: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
    except ValueError:
        cursor = {}
    instance = context.instance
    runs: dict[str, dg.DagsterRun | None] = {}
    requests: list[dg.RunRequest] = []
    oldest = time.time() - LOOK_BACK_SECONDS
    for asset_key, check_keys in checks_by_asset(context.repository_def).items():
        name = asset_key.to_user_string()
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key, after_storage_id=cursor.get(name)),
            limit=RECORDS_PER_QUERY,
            ascending=True,
        ).records
        for record in records:
            if len(requests) >= MAX_REQUESTS_PER_TICK:
                break
            cursor[name] = record.storage_id
            partition_key = record.partition_key
            if record.timestamp < oldest:
                continue
            if record.run_id not in runs:
                runs[record.run_id] = instance.get_run_by_id(record.run_id)
            if not partition_key or not is_range_run(runs[record.run_id]):
                continue  # a one-day run evaluated its checks in its own step
            requests.append(
                dg.RunRequest(
                    run_key=f"checks:{name}:{partition_key}:{record.storage_id}",
                    asset_selection=[],
                    asset_check_keys=check_keys,
                    tags={
                        PARTITION_TAG: partition_key,
                        CHECKS_OF_RUN_TAG: record.run_id,
                        "dagster/priority": CHECK_RUN_PRIORITY,
                    },
                )
            )
    new_cursor = json.dumps(cursor, sort_keys=True)
    if not requests:
        context.update_cursor(new_cursor)
        return dg.SkipReason("no day of a range run left without its checks")
    return dg.SensorResult(run_requests=requests, cursor=new_cursor)
