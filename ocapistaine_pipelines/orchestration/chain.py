"""Which assets make up each legacy task, and what each task waits for.

The legacy scheduler knew tasks by name (``task_contributions_analysis`` ...); Dagster knows assets.
This module is the one mapping between the two, so schedules, the failure sensor and the API client
agree. Assets are named by key only: nothing here imports a domain, so this loads before (and
without) the asset modules.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import dagster as dg

from ..guard.contract import TASK_CONTRIBUTIONS_ANALYSIS, TASK_FIRECRAWL, TASK_OPIK_EXPERIMENT, day_string

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


@dataclass(frozen=True)
class ChainTask:
    """One legacy task: the assets one run materializes, the tasks that must succeed first, and how
    long one day's run may take before run monitoring gives up on it."""

    name: str
    assets: tuple[dg.AssetKey, ...]
    depends_on: tuple[str, ...] = ()
    max_runtime_seconds: int = 900
    queue: str = "dagster"

    @property
    def selection(self) -> dg.AssetSelection:
        """Exact keys that resolve to nothing (not an error) while an asset is not defined yet."""
        return dg.AssetSelection.from_string(" or ".join(f'key:"{key.to_user_string()}"' for key in self.assets))


TASKS: dict[str, ChainTask] = {
    TASK_CONTRIBUTIONS_ANALYSIS: ChainTask(TASK_CONTRIBUTIONS_ANALYSIS, (CONTRIBUTIONS, CONTRIBUTIONS_ANALYSIS)),
    TASK_FIRECRAWL: ChainTask(
        TASK_FIRECRAWL, (CRAWLED_DOCUMENTS,), max_runtime_seconds=2 * 3600, queue="crawl"
    ),
    TASK_OPIK_EXPERIMENT: ChainTask(TASK_OPIK_EXPERIMENT, (OPIK_EXPERIMENT,)),
}

#: What ``orchestrate_task_chain`` runs, in order, every 7 minutes (crawl and Opik have fixed times).
DAILY_CHAIN: tuple[ChainTask, ...] = (TASKS[TASK_CONTRIBUTIONS_ANALYSIS],)

#: The task re-run (forced) for yesterday at the chain's first tick of a day: contributions belong to
#: the day of their ``created_at``, and those that arrived after the day's success would never be read.
DAY_CLOSE_TASK: ChainTask = TASKS[TASK_CONTRIBUTIONS_ANALYSIS]


def task(name: str) -> ChainTask:
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; expected one of {', '.join(TASKS)}") from None


def task_day(task_name: str, partition_key: str) -> str:
    """The ``ocapistaine/task_day`` value: ``{task}:{YYYYMMDD}``, like the legacy Redis keys."""
    return f"{task_name}:{day_string(partition_key)}"


def task_run_tags(chain_task: ChainTask, partition_key: str) -> dict[str, str]:
    """Tags of every run the project requests for one task and day (schedules, day close, client)."""
    return {
        TASK_TAG: chain_task.name,
        TASK_DAY_TAG: task_day(chain_task.name, partition_key),
        MAX_RUNTIME_TAG: str(chain_task.max_runtime_seconds),
        CELERY_QUEUE_TAG: chain_task.queue,
    }


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


def task_for_assets(keys: Optional[Iterable[dg.AssetKey]]) -> Optional[str]:
    """The task a run belongs to, from the assets it selected (``None`` for other runs)."""
    selected = set(keys or ())
    for chain_task in TASKS.values():
        if selected & set(chain_task.assets):
            return chain_task.name
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
    chain_task: ChainTask,
    partition_key: str,
    statuses: Sequence[dg.DagsterRunStatus],
    limit: int = 200,
) -> list[dg.DagsterRun]:
    """Runs with one of ``statuses`` that materialize an asset of the task on that day (ranges included)."""
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=list(statuses)), limit=limit)
    wanted = set(chain_task.assets)
    return [
        run
        for run in runs
        if run_covers_day(run, partition_key)
        and (run.tags.get(TASK_TAG) == chain_task.name or wanted & set(run.asset_selection or ()))
    ]
