"""The run tags of the project's runs, and how to find a task's runs of a day.

The tasks themselves (name, assets, when) are declared in ``ocapistaine_pipelines/tasks.py``; this
module turns a declaration into what Dagster and the run queue read: asset keys, run tags, and the
lookups the schedules use to avoid launching a run that would only skip.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import dagster as dg

from ..guard.contract import day_string
from ..tasks import TASKS, DailyTask, task  # noqa: F401 - TASKS, task: read through this module too

# The project's asset keys, for readers that name one (the declarations in tasks.py hold them as text).
CONTRIBUTIONS = dg.AssetKey("contributions")
CONTRIBUTIONS_ANALYSIS = dg.AssetKey("contributions_analysis")
CRAWLED_DOCUMENTS = dg.AssetKey("crawled_documents")
OPIK_EXPERIMENT = dg.AssetKey("opik_experiment")

#: Run tags written by the schedules and the client, so runs are found by task in the UI and here.
TASK_TAG = "ocapistaine/task"
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
#: Marks the "day close" run of a day (value: the day closed), so the chain finds its attempts.
DAY_CLOSE_TAG = "ocapistaine/day_close"
#: ``{task}:{YYYYMMDD}`` on every run the project requests: the run queue admits one run per value
#: (deploy/dagster.yaml), so a long crawl of a day does not hold back that day's other tasks.
TASK_DAY_TAG = "ocapistaine/task_day"
#: Dagster's run monitoring cancels (then marks failed) a run older than this: the only way the local
#: run launcher notices a run worker that died (it cannot check a worker's health).
MAX_RUNTIME_TAG = dg.MAX_RUNTIME_SECONDS_TAG
#: The Celery queue a run goes to with the Celery run launcher (deploy/dagster-celery.yaml; ignored by
#: the others): long crawls on ``crawl`` workers, apart from the day's analysis on ``dagster`` workers.
CELERY_QUEUE_TAG = "dagster-celery/queue"

#: Runs that still count as "on their way" for a task and day.
IN_FLIGHT_STATUSES = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)
FINISHED_STATUSES = (
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
)


def asset_keys(daily_task: DailyTask) -> list[dg.AssetKey]:
    return [dg.AssetKey.from_user_string(key) for key in daily_task.assets]


def task_day(task_name: str, partition_key: str) -> str:
    """The ``ocapistaine/task_day`` value: ``{task}:{YYYYMMDD}``, like the legacy Redis keys."""
    return f"{task_name}:{day_string(partition_key)}"


def job_tags(daily_task: DailyTask) -> dict[str, str]:
    """Tags every run of the task's job carries, however it was launched."""
    return {
        TASK_TAG: daily_task.name,
        MAX_RUNTIME_TAG: str(daily_task.max_runtime_seconds),
        CELERY_QUEUE_TAG: daily_task.queue,
    }


def task_run_tags(daily_task: DailyTask, partition_key: str) -> dict[str, str]:
    """Tags of every run of one task and day (schedules, day close, client, the job's partitions)."""
    return {**job_tags(daily_task), TASK_DAY_TAG: task_day(daily_task.name, partition_key)}


def run_days(run: dg.DagsterRun) -> list[str]:
    """The partitions a run works on: its partition, or every day of its range."""
    tags = run.tags
    if tags.get(PARTITION_TAG):
        return [tags[PARTITION_TAG]]
    start, end = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if not (start and end):
        return []
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    return [(first + dt.timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def task_for_assets(keys: Iterable[dg.AssetKey] | None) -> str | None:
    """The task a run belongs to, from the assets it selected (``None`` for other runs)."""
    selected = set(keys or ())
    for declared in TASKS.values():
        if selected & set(asset_keys(declared)):
            return declared.name
    return None


def run_covers_day(run: dg.DagsterRun, partition_key: str) -> bool:
    """Whether a run works on ``partition_key``: single partition tag, or a range that contains it."""
    tags = run.tags
    if tags.get(PARTITION_TAG) == partition_key:
        return True
    start, end = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    return bool(start and end and start <= partition_key <= end)


def runs_of_task(
    instance: dg.DagsterInstance,
    daily_task: DailyTask,
    partition_key: str,
    statuses: Sequence[dg.DagsterRunStatus],
    limit: int = 200,
) -> list[dg.DagsterRun]:
    """Runs with one of ``statuses`` of the task on that day (ranges included): runs of its job, or
    UI launches that selected one of its assets."""
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=list(statuses)), limit=limit)
    wanted = set(asset_keys(daily_task))
    return [
        run
        for run in runs
        if run_covers_day(run, partition_key)
        and (
            run.tags.get(TASK_TAG) == daily_task.name
            or run.job_name == daily_task.job_name
            or wanted & set(run.asset_selection or ())
        )
    ]
