"""A throwaway daily task, declared the way docs/adding-a-task.md says, for test_adding_a_task.py.

Not declared at import: the test declares it for its own duration (the real task list stays three),
and throwaway_definitions.py declares it for the code location that `dagster dev` loads.
"""

import datetime as dt

import dagster as dg

from ocapistaine_pipelines.guard import TaskGuard, run_guarded_days
from ocapistaine_pipelines.partitions import daily_partitions
from ocapistaine_pipelines.settings import DataDirResource
from ocapistaine_pipelines.tasks import AtTime, DailyTask

# 1. the declaration (in the project: one more entry at the end of ocapistaine_pipelines/tasks.py)
THROWAWAY = DailyTask(
    name="task_weekly_digest",
    assets=("weekly_digest",),
    runs=AtTime("30 4 * * *"),
    deadline=dt.time(7, 0),
    max_runtime_seconds=600,
    description="writes a short digest of the day for the newsletter",
)


# 2. the asset, guarded under the task's name
@dg.asset(
    partitions_def=daily_partitions,
    output_required=False,
    group_name="digest",
    owners=["team:ocapistaine"],
    kinds={"python"},
    description="task_weekly_digest: a one-line digest of the day (throwaway task of the tests).",
)
def weekly_digest(context: dg.AssetExecutionContext, guard: TaskGuard, data_dir: DataDirResource):
    def work(day, partition_key):
        path = data_dir.folder("digest") / f"{partition_key}.txt"
        path.write_text(f"digest of {partition_key}\n", encoding="utf-8")
        return {"path": str(path)}

    yield from run_guarded_days(context, guard, THROWAWAY.name, work)
