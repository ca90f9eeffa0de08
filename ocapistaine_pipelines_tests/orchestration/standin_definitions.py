"""A code location like the project's, with the stand-in task assets (see standin_assets.py)."""

import dagster as dg

from ocapistaine_pipelines.orchestration.jobs import task_jobs
from ocapistaine_pipelines.orchestration.schedules import task_schedules
from ocapistaine_pipelines.orchestration.sensors import SENSORS
from ocapistaine_pipelines.resources import build_resources

from .standin_assets import ASSETS

defs = dg.Definitions(
    assets=ASSETS,
    jobs=task_jobs(),
    schedules=task_schedules(),
    sensors=SENSORS,
    resources=build_resources(),
    executor=dg.in_process_executor,
)
