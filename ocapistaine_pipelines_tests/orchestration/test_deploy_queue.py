"""The run queue of deploy/dagster-dev.yaml (and deploy/dagster.yaml): one run per task and day.

The instance is loaded from the file as the daemon loads it; which queued run may start is asked of
Dagster's own counter (the one the run-queue daemon uses), with runs tagged as the project tags them.
"""

import shutil

import dagster as dg
import pytest
import yaml
from dagster._utils.tags import TagConcurrencyLimitsCounter

from ocapistaine_pipelines.guard.contract import (
    TASK_CONTRIBUTIONS_ANALYSIS,
    TASK_FIRECRAWL,
    TASK_OPIK_EXPERIMENT,
)
from ocapistaine_pipelines.orchestration.chain import PARTITION_TAG, TASKS, task_run_tags

from .conftest import ROOT

QUEUE_LIMITS = [
    {"key": "ocapistaine/task_day", "value": {"applyLimitPerUniqueValue": True}, "limit": 1},
    {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 3},
]
DAY = "2026-11-29"


@pytest.fixture
def dev_instance(tmp_path):
    shutil.copy(ROOT / "deploy" / "dagster-dev.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        yield instance


def test_the_dev_instance_loads_with_the_queue_limits_and_monitoring(dev_instance):
    assert type(dev_instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert dev_instance.get_concurrency_config().run_queue_config.tag_concurrency_limits == QUEUE_LIMITS
    assert dev_instance.run_monitoring_enabled
    assert dev_instance.run_retries_enabled and dev_instance.run_retries_retry_on_asset_or_op_failure is False


def test_production_and_dev_share_the_queue_rules():
    production = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())
    assert production["concurrency"]["runs"]["tag_concurrency_limits"] == QUEUE_LIMITS


def project_run(task_name: str, day: str = DAY) -> dg.DagsterRun:
    """A run as the schedules and the client request it."""
    return dg.DagsterRun(
        job_name="__ASSET_JOB", tags={PARTITION_TAG: day, **task_run_tags(TASKS[task_name], day)}
    )


def ui_run(day: str = DAY) -> dg.DagsterRun:
    """A one-partition launch from the UI: no project tag."""
    return dg.DagsterRun(job_name="__ASSET_JOB", tags={PARTITION_TAG: day})


def test_a_long_crawl_does_not_hold_back_the_other_tasks_of_its_day(dev_instance):
    limits = dev_instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    queue = TagConcurrencyLimitsCounter(
        limits, [project_run(TASK_FIRECRAWL)]
    )  # the 03:00 crawl, still running
    assert not queue.is_blocked(project_run(TASK_OPIK_EXPERIMENT))  # 05:00
    assert not queue.is_blocked(project_run(TASK_CONTRIBUTIONS_ANALYSIS))  # the chain from 06:00
    assert queue.is_blocked(project_run(TASK_FIRECRAWL))  # a second crawl of the day waits
    assert not queue.is_blocked(project_run(TASK_FIRECRAWL, "2026-11-30"))  # another day does not


def test_untagged_ui_launches_are_capped_at_three_per_day(dev_instance):
    limits = dev_instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    queue = TagConcurrencyLimitsCounter(limits, [ui_run(), project_run(TASK_FIRECRAWL)])
    assert not queue.is_blocked(ui_run())
    queue.update_counters_with_launched_item(ui_run())
    assert queue.is_blocked(ui_run()) and queue.is_blocked(project_run(TASK_OPIK_EXPERIMENT))
    assert not queue.is_blocked(ui_run("2026-11-30"))
