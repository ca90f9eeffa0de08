"""The real code location: lineage, metadata for the UI, and the targets of the schedules."""

import dagster as dg
import pytest

from ocapistaine_pipelines.orchestration.chain import TASK_DAY_TAG, TASK_TAG, asset_keys
from ocapistaine_pipelines.tasks import TASKS


@pytest.fixture(scope="module")
def repository():
    from ocapistaine_pipelines.definitions import defs

    return defs.get_repository_def()


def test_the_lineage_the_ui_shows(repository):
    graph = repository.asset_graph
    parents = lambda name: {k.to_user_string() for k in graph.get(dg.AssetKey(name)).parent_keys}  # noqa: E731
    children = lambda name: {k.to_user_string() for k in graph.get(dg.AssetKey(name)).child_keys}  # noqa: E731
    assert "contributions" in parents("contributions_analysis")
    assert "contributions_analysis" in parents("opik_experiment")
    assert parents("crawled_documents") == set() and children("crawled_documents") == set()


def test_every_task_asset_is_described_owned_grouped_and_daily(repository):
    graph = repository.asset_graph
    for daily_task in TASKS.values():
        for key in asset_keys(daily_task):
            node = graph.get(key)
            assert node.description, key
            assert node.owners == ["team:ocapistaine"], key
            assert node.group_name and node.group_name != "default", key
            assert node.kinds, key
            assert isinstance(node.partitions_def, dg.DailyPartitionsDefinition), key
            assert node.partitions_def.timezone == "Europe/Paris", key
            # no backfill policy: a beta parameter (a BetaWarning at every load), and with two assets
            # the UI's launch dialog speaks of "varying backfill policies" (it compares them by reference)
            assert node.backfill_policy is None, key


def test_each_schedule_targets_exactly_its_task_assets(repository):
    for name, expected in (
        ("orchestrate_task_chain", {"contributions", "contributions_analysis"}),
        ("task_firecrawl", {"crawled_documents"}),
        ("task_opik_experiment", {"opik_experiment"}),
    ):
        job = repository.get_job(repository.get_schedule_def(name).job_name)
        selected = {key.to_user_string() for key in job.asset_layer.selected_asset_keys}
        assert selected == expected, name


def test_one_partitioned_job_per_task_named_after_it(repository):
    """What the runs list and the job's Partitions tab show: a job per task, its tags on every run."""
    for daily_task in TASKS.values():
        job = repository.get_job(daily_task.name)
        assert {key.to_user_string() for key in job.asset_layer.selected_asset_keys} == set(daily_task.assets)
        assert job.partitions_def.timezone == "Europe/Paris"
        assert job.tags == {
            TASK_TAG: daily_task.name,
            "dagster/max_runtime": str(daily_task.max_runtime_seconds),
            "dagster-celery/queue": daily_task.queue,
        }
        day_tags = job.partitioned_config.get_tags_for_partition_key("2026-03-29")
        assert day_tags[TASK_DAY_TAG] == f"{daily_task.name}:20260329"
        # one run per day: a month is 31 runs, each with its own partition, guard, checks and alert
        assert job.backfill_policy.max_partitions_per_run == 1
    assert repository.get_job("task_contributions_analysis").asset_layer.selected_asset_keys == {
        dg.AssetKey("contributions"),
        dg.AssetKey("contributions_analysis"),
    }
