"""A code location like the project's, with the stand-in task assets (see standin_assets.py)."""

import dagster as dg

from ocapistaine_pipelines.orchestration.schedules import SCHEDULES
from ocapistaine_pipelines.orchestration.sensors import SENSORS
from ocapistaine_pipelines.resources import build_resources

from .standin_assets import ASSETS

defs = dg.Definitions(
    assets=ASSETS, schedules=SCHEDULES, sensors=SENSORS, resources=build_resources(), executor=dg.in_process_executor
)
