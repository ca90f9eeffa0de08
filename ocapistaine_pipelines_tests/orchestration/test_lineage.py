"""The real code location: lineage, metadata for the UI, and the targets of the schedules."""

import dagster as dg
import pytest

from ocapistaine_pipelines.orchestration.chain import TASKS


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
    for chain_task in TASKS.values():
        for key in chain_task.assets:
            node = graph.get(key)
            assert node.description, key
            assert node.owners == ["team:ocapistaine"], key
            assert node.group_name and node.group_name != "default", key
            assert node.kinds, key
            assert isinstance(node.partitions_def, dg.DailyPartitionsDefinition), key
            assert node.partitions_def.timezone == "Europe/Paris", key
            assert node.backfill_policy == dg.BackfillPolicy.single_run(), key


def test_each_schedule_targets_exactly_its_task_assets(repository):
    for name, expected in (
        ("orchestrate_task_chain", {"contributions", "contributions_analysis"}),
        ("task_firecrawl", {"crawled_documents"}),
        ("task_opik_experiment", {"opik_experiment"}),
    ):
        job = repository.get_job(repository.get_schedule_def(name).job_name)
        selected = {key.to_user_string() for key in job.asset_layer.selected_asset_keys}
        assert selected == expected, name
