"""The run queues of deploy/dagster-dev.yaml, deploy/dagster.yaml and deploy/dagster-celery.yaml.

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
from ocapistaine_pipelines.orchestration.chain import CELERY_QUEUE_TAG, PARTITION_TAG, TASKS, task_run_tags

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


PLAIN_COORDINATOR = {"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator"}


def celery_instance(tmp_path, monkeypatch, coordinator: dict | None = None) -> dg.DagsterInstance:
    """deploy/dagster-celery.yaml as the daemon loads it, on SQLite (the queue logic is the same)."""
    config = yaml.safe_load((ROOT / "deploy" / "dagster-celery.yaml").read_text())
    config["storage"] = {"sqlite": {"base_dir": str(tmp_path / "storage")}}
    if coordinator:
        config["run_coordinator"].update(coordinator)
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:9/2")  # never reached: nothing is launched
    monkeypatch.setenv("CELERY_RESULT_BACKEND", "redis://127.0.0.1:9/3")
    return dg.DagsterInstance.from_config(str(tmp_path))


def started(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dg.DagsterRun:
    """A run a worker is running, tagged with its queue by the launcher."""
    queue = instance.run_launcher.queue_for(run)
    return instance.add_run(
        run.with_status(dg.DagsterRunStatus.STARTED).with_tags({**run.tags, CELERY_QUEUE_TAG: queue})
    )


def queued(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dg.DagsterRun:
    """A run submitted as the webserver and the daemon submit it: through the instance's coordinator."""
    from dagster._core.remote_origin import (
        RegisteredCodeLocationOrigin,
        RemoteJobOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.run_coordinator import SubmitRunContext

    location = RegisteredCodeLocationOrigin("ocapistaine_pipelines")
    run = run._replace(
        remote_job_origin=RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), run.job_name)
    )
    instance.add_run(run)
    return instance.run_coordinator.submit_run(SubmitRunContext(run, workspace=None))


def next_out_of_the_queue(instance: dg.DagsterInstance) -> list[str]:
    """The runs Dagster's run-queue daemon would launch now (its own selection: priorities, limits)."""
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

    daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
    return [
        run.run_id for run in daemon._get_runs_to_dequeue(instance, instance.get_concurrency_config(), None)
    ]


def check_run(day: str) -> dg.DagsterRun:
    """A checks-only run as the check_range_days sensor requests it: no task tags, priority -1."""
    from ocapistaine_pipelines.orchestration.range_checks import CHECK_RUN_PRIORITY

    return dg.DagsterRun(
        job_name="__ASSET_JOB", tags={PARTITION_TAG: day, "dagster/priority": CHECK_RUN_PRIORITY}
    )


def test_every_queued_run_waits_for_a_slot_of_its_celery_queue_in_priority_order(tmp_path, monkeypatch):
    """The `dagster` queue full (2 workers busy): the day's retry waits, and no untagged run (range
    checks, UI launches) passes it into the broker; a UI launch of the crawl goes to the free `crawl`
    queue. As `dagster` slots free, the retry and the UI launch (priority 0, in the order queued) go before
    the checks (priority -1), queued earlier."""
    from ocapistaine_pipelines.orchestration.chain import CRAWLED_DOCUMENTS

    with celery_instance(tmp_path, monkeypatch) as instance:
        assert type(instance.run_coordinator).__name__ == "QueueTaggingRunCoordinator"
        busy = [
            started(instance, project_run(TASK_CONTRIBUTIONS_ANALYSIS, day))
            for day in ("2026-11-27", "2026-11-28")
        ]
        checks = [queued(instance, check_run(day)) for day in ("2026-11-01", "2026-11-02")]
        crawl = queued(instance, dg.DagsterRun(job_name="__ASSET_JOB", asset_selection={CRAWLED_DOCUMENTS}))
        retry = queued(instance, project_run(TASK_CONTRIBUTIONS_ANALYSIS))
        ui = queued(instance, ui_run("2026-11-03"))
        tagged = {
            run.run_id: instance.get_run_by_id(run.run_id).tags.get(CELERY_QUEUE_TAG)
            for run in [*checks, ui, crawl]
        }
        assert tagged == {**{run.run_id: "dagster" for run in [*checks, ui]}, crawl.run_id: "crawl"}

        assert next_out_of_the_queue(instance) == [crawl.run_id]
        instance.report_run_failed(busy[0])
        names = {crawl.run_id: "crawl", retry.run_id: "retry", ui.run_id: "ui"}
        names.update({run.run_id: "check" for run in checks})
        assert [names[run_id] for run_id in next_out_of_the_queue(instance)] == ["crawl", "retry"]
        instance.report_run_failed(busy[1])  # both slots free: priority 0 first, in the order queued
        assert [names[run_id] for run_id in next_out_of_the_queue(instance)] == ["crawl", "retry", "ui"]


def test_with_dagsters_plain_coordinator_the_checks_pass_the_waiting_retry(tmp_path, monkeypatch):
    """The defect the coordinator removes (what the test above would catch): untagged runs are exempt
    from the per-queue limit, so while `dagster` is full they leave the queue for the broker."""
    with celery_instance(tmp_path, monkeypatch, PLAIN_COORDINATOR) as instance:
        for day in ("2026-11-27", "2026-11-28"):
            started(instance, project_run(TASK_CONTRIBUTIONS_ANALYSIS, day))
        checks = [queued(instance, check_run(day)) for day in ("2026-11-01", "2026-11-02")]
        queued(instance, project_run(TASK_CONTRIBUTIONS_ANALYSIS))  # the retry, priority 0
        assert next_out_of_the_queue(instance) == [run.run_id for run in checks]
