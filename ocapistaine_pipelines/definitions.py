"""The code location: assembles assets, checks, task jobs, schedules, sensors and resources, nothing more."""

import dagster as dg

from .contributions import assets as contributions_assets
from .crawl import assets as crawl_assets
from .evaluation import assets as evaluation_assets
from .learning import assets as learning_assets
from .orchestration.deadlines import with_deadlines
from .orchestration.jobs import task_jobs
from .orchestration.schedules import task_schedules
from .orchestration.sensors import SENSORS
from .resources import build_resources

_asset_modules = [contributions_assets, crawl_assets, evaluation_assets, learning_assets]

defs = dg.Definitions(
    assets=with_deadlines(dg.load_assets_from_modules(_asset_modules)),  # freshness: each task's deadline
    asset_checks=dg.load_asset_checks_from_modules(_asset_modules),
    jobs=task_jobs(),  # one per task declared in tasks.py
    schedules=task_schedules(),
    sensors=SENSORS,
    resources=build_resources(),
    # Our runs have one or two light steps: a subprocess per step would cost ~12 s a run for nothing.
    executor=dg.in_process_executor,
)
