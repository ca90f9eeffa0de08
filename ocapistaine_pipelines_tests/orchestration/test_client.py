"""ocapistaine_pipelines.client without a webserver: arguments, Redis history, errors.

The GraphQL calls themselves run against a real `dagster dev` in test_end_to_end.py.
"""

import subprocess
import sys

import pytest

from ocapistaine_pipelines import client
from ocapistaine_pipelines.guard.contract import (
    TASK_CONTRIBUTIONS_ANALYSIS,
    TASK_FIRECRAWL,
    TASK_NAMES,
    lock_key,
    success_key,
)
from ocapistaine_pipelines.redis_connection import RedisUnavailable
from ocapistaine_pipelines_tests.services import free_port


class RecordingClient:
    """Stands in for DagsterGraphQLClient to see what run_task_now sends (arguments only)."""

    def __init__(self):
        self.calls = []

    def submit_job_execution(self, job_name, **kwargs):
        self.calls.append((job_name, kwargs))
        return "run-123"


def test_run_task_now_launches_the_task_job_with_partition_and_force_tags():
    recorder = RecordingClient()
    assert (
        client.run_task_now(TASK_CONTRIBUTIONS_ANALYSIS, "20260210", force=True, client=recorder) == "run-123"
    )
    [(job, kwargs)] = recorder.calls
    assert job == TASK_CONTRIBUTIONS_ANALYSIS  # the job: contributions + contributions_analysis
    assert "asset_selection" not in kwargs
    assert kwargs["tags"] == {
        "dagster/partition": "2026-02-10",
        "ocapistaine/task": TASK_CONTRIBUTIONS_ANALYSIS,
        # the queue: one run per task and day
        "ocapistaine/task_day": f"{TASK_CONTRIBUTIONS_ANALYSIS}:20260210",
        "dagster/max_runtime": "900",  # run monitoring fails a run whose worker died after 15 minutes
        "dagster-celery/queue": "dagster",  # the Celery queue (deploy/dagster-celery.yaml)
        "ocapistaine/force": "true",
    }
    assert kwargs["repository_location_name"] == "ocapistaine_pipelines"

    client.run_task_now(TASK_FIRECRAWL, "2026-03-29", client=recorder)
    assert recorder.calls[1][0] == TASK_FIRECRAWL
    assert "ocapistaine/force" not in recorder.calls[1][1]["tags"]
    assert recorder.calls[1][1]["tags"]["ocapistaine/task_day"] == f"{TASK_FIRECRAWL}:20260329"
    assert recorder.calls[1][1]["tags"]["dagster/max_runtime"] == "7200"
    assert recorder.calls[1][1]["tags"]["dagster-celery/queue"] == "crawl"


@pytest.mark.parametrize(
    "task, date, message",
    [
        ("task_nope", None, "unknown task 'task_nope'"),
        (TASK_FIRECRAWL, "29/11/2026", "not a day"),
        (TASK_FIRECRAWL, "2025-12-31", "before the first partition"),
        (TASK_FIRECRAWL, "2099-01-01", "in the future"),
    ],
)
def test_run_task_now_refuses_bad_arguments_before_calling_dagster(task, date, message):
    recorder = RecordingClient()
    with pytest.raises(ValueError, match=message):
        client.run_task_now(task, date, client=recorder)
    assert recorder.calls == []


def test_today_is_the_paris_day(monkeypatch):
    import datetime as dt

    key = client.partition_key()
    assert key == dt.datetime.now(client.PARIS).strftime("%Y-%m-%d")


def test_graphql_url_from_the_environment():
    assert client.graphql_url({}) == "http://localhost:3000"
    assert (
        client.graphql_url({"DAGSTER_GRAPHQL_HOST": "dagster", "DAGSTER_GRAPHQL_PORT": "3001"})
        == "http://dagster:3001"
    )
    assert (
        client.graphql_url({"DAGSTER_GRAPHQL_URL": "https://ops.example.org/dagster/"})
        == "https://ops.example.org/dagster"
    )
    with pytest.raises(ValueError, match="not a Dagster webserver URL"):
        client.graphql_client("ftp://nowhere")


def test_a_webserver_that_is_down_gives_a_clear_error(monkeypatch):
    port = free_port()
    monkeypatch.setenv("DAGSTER_GRAPHQL_URL", f"http://127.0.0.1:{port}")
    expected = rf"Dagster webserver unreachable at http://127.0.0.1:{port}/graphql"
    with pytest.raises(client.DagsterUnavailable, match=expected):
        client.run_task_now(TASK_FIRECRAWL, "2026-02-10")
    with pytest.raises(client.DagsterUnavailable, match=expected):
        client.get_scheduler_status()


def test_get_task_history_reads_the_legacy_markers(redis_server, scheduler_db):
    redis_server.client().flushall()
    scheduler_db.set(success_key(TASK_CONTRIBUTIONS_ANALYSIS, "20260210"), "completed", ex=86400)
    scheduler_db.set(lock_key(TASK_FIRECRAWL, "20260210"), "run-abc", ex=300)
    history = client.get_task_history(
        "2026-02-10", environ={"REDIS_URL": f"redis://127.0.0.1:{redis_server.port}"}
    )
    assert set(history) == set(TASK_NAMES)
    analysis, crawl = history[TASK_CONTRIBUTIONS_ANALYSIS], history[TASK_FIRECRAWL]
    assert (analysis["date"], analysis["completed"], analysis["running"]) == ("20260210", True, False)
    assert 86000 < analysis["success_ttl"] <= 86400 and analysis["lock_ttl"] is None
    assert (crawl["completed"], crawl["running"], crawl["lock_holder"]) == (False, True, "run-abc")
    assert 0 < crawl["lock_ttl"] <= 300


def test_get_task_history_with_redis_down_names_the_server_not_the_password():
    port = free_port()
    with pytest.raises(RedisUnavailable) as raised:
        client.get_task_history("2026-02-10", environ={"REDIS_URL": f"redis://:hunter2@127.0.0.1:{port}"})
    assert f"127.0.0.1:{port} db 6" in raised.value.description
    assert "hunter2" not in raised.value.description


@pytest.mark.slow
def test_importing_the_client_does_not_import_dagster_graphql():
    code = "import sys, ocapistaine_pipelines.client; print('dagster_graphql' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "False"
