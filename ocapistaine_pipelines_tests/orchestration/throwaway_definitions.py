"""The stand-in code location plus the throwaway task (see throwaway_task.py), for `dagster dev`."""

import dagster as dg

from ocapistaine_pipelines.orchestration.jobs import task_jobs
from ocapistaine_pipelines.orchestration.schedules import task_schedules
from ocapistaine_pipelines.orchestration.sensors import SENSORS
from ocapistaine_pipelines.resources import build_resources
from ocapistaine_pipelines.tasks import declare

from .standin_assets import ASSETS
from .throwaway_task import THROWAWAY, weekly_digest

declare(THROWAWAY)

defs = dg.Definitions(
    assets=[*ASSETS, weekly_digest],
    jobs=task_jobs(),
    schedules=task_schedules(),
    sensors=SENSORS,
    resources=build_resources(),
    executor=dg.in_process_executor,
)
