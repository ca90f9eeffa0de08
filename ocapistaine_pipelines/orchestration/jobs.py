"""One partitioned job per declared task, named after it.

Schedules, the chain, the day close and ``client.run_task_now`` launch these jobs, so the runs list
reads by task (job ``task_firecrawl``...) and a day or a month is one launch from the job's
partitions. Every run of a job carries the task's tags whatever launched it: ``ocapistaine/task``
and ``dagster/max_runtime`` from the job, ``ocapistaine/task_day`` ({task}:{YYYYMMDD}, the run
queue's one-run-per-task-and-day key) from the partition, as Dagster adds partition tags to
schedule requests, backfill runs and the launchpad's partition launches.
"""

from __future__ import annotations

import functools

import dagster as dg

from ..partitions import daily_partitions
from ..tasks import TASKS, DailyTask
from .chain import TASK_DAY_TAG, asset_keys, job_tags, task_day


@functools.cache
def task_job(daily_task: DailyTask) -> dg.UnresolvedAssetJobDefinition:
    def tags_for_day(partition_key: str) -> dict[str, str]:
        return {TASK_DAY_TAG: task_day(daily_task.name, partition_key)}

    return dg.define_asset_job(
        name=daily_task.job_name,
        selection=dg.AssetSelection.assets(*asset_keys(daily_task)),
        config=dg.PartitionedConfig(
            partitions_def=daily_partitions,
            run_config_for_partition_key_fn=lambda _: {},
            tags_for_partition_key_fn=tags_for_day,
        ),
        tags=job_tags(daily_task),
        description=f"{daily_task.name}: {daily_task.description}" if daily_task.description else None,
    )


def task_jobs() -> list[dg.UnresolvedAssetJobDefinition]:
    """A job for every task declared so far (built when the code location loads; one object per
    declaration, so a schedule's target and the Definitions' job are the same)."""
    return [task_job(declared) for declared in TASKS.values()]
