"""End to end: a real ``dagster dev`` on the project's workspace.yaml, driven through GraphQL.

Launches a partition of contributions + contributions_analysis with DagsterGraphQLClient (the call
README shows), waits for SUCCESS, checks the Redis markers, launches again and sees the run skipped,
then reads the schedules through ``ocapistaine_pipelines.client``. ``OCAPISTAINE_E2E_WORKSPACE=standin``
runs it on the stand-in assets instead (to tell an orchestration bug from a domain one).
"""

import contextlib
import io
import os

import pytest

from ocapistaine_pipelines import client
from ocapistaine_pipelines.guard.contract import (
    STATUS_TAG,
    TASK_CONTRIBUTIONS_ANALYSIS,
    TASK_NAMES,
    day_string,
    lock_key,
    success_key,
)

from .dagster_dev import ROOT, DagsterDev, launch_job_backfill, wait_for_backfill_run
from .webhook import Webhook

DAY = "2026-02-10"

pytestmark = pytest.mark.slow


def workspace() -> str:
    if os.environ.get("OCAPISTAINE_E2E_WORKSPACE") == "standin":
        return str(ROOT / "ocapistaine_pipelines_tests" / "orchestration" / "standin_workspace.yaml")
    return str(ROOT / "workspace.yaml")


@pytest.fixture(scope="module")
def alert_webhook():
    server = Webhook()
    yield server
    server.close()


@pytest.fixture(scope="module")
def dagster_dev(redis_server, tmp_path_factory, alert_webhook):
    data_dir = tmp_path_factory.mktemp("e2e-data")
    env = {
        "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}",
        "OCAPISTAINE_DATA_DIR": str(data_dir),
        "OCAPISTAINE_ALERT_WEBHOOK": alert_webhook.url,
        "OCAPISTAINE_ALERT_INTERVAL_SECONDS": "30",  # default 120: the alert test would wait 2 minutes
    }
    for name in ("REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD"):
        env[name] = ""
    redis_server.client().flushall()
    server = DagsterDev(workspace(), env)
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def graphql_env(dagster_dev, monkeypatch):
    monkeypatch.setenv("DAGSTER_GRAPHQL_URL", dagster_dev.url)
    return dagster_dev


def test_a_partition_launched_through_graphql_runs_then_skips(graphql_env, scheduler_db, redis_server):
    from dagster_graphql import DagsterGraphQLClient

    dev = graphql_env
    redis_server.client().flushall()
    graphql = DagsterGraphQLClient("127.0.0.1", port_number=dev.port)
    first_id = graphql.submit_job_execution(
        "__ASSET_JOB",
        asset_selection=[["contributions"], ["contributions_analysis"]],
        tags={"dagster/partition": DAY},
    )
    first = dev.wait_for_run(first_id)
    assert first["status"] == "SUCCESS", dev.log_tail()
    assert first["tags"][STATUS_TAG] == "success"
    assert scheduler_db.get(success_key(TASK_CONTRIBUTIONS_ANALYSIS, DAY)) == "completed"
    assert 0 < scheduler_db.ttl(success_key(TASK_CONTRIBUTIONS_ANALYSIS, DAY)) <= 86400
    assert scheduler_db.get(lock_key(TASK_CONTRIBUTIONS_ANALYSIS, DAY)) is None

    second_id = graphql.submit_job_execution(
        "__ASSET_JOB",
        asset_selection=[["contributions"], ["contributions_analysis"]],
        tags={"dagster/partition": DAY},
    )
    second = dev.wait_for_run(second_id)
    assert second["status"] == "SUCCESS"
    assert second["tags"][STATUS_TAG] == "skipped"
    assert second["tags"]["ocapistaine/reason"] == "already_completed"

    history = client.get_task_history(DAY, environ={"REDIS_URL": f"redis://127.0.0.1:{redis_server.port}"})
    assert history[TASK_CONTRIBUTIONS_ANALYSIS]["completed"] is True
    assert history[TASK_CONTRIBUTIONS_ANALYSIS]["running"] is False


def test_run_task_now_with_force_does_the_day_again(graphql_env, scheduler_db, redis_server):
    dev = graphql_env
    redis_server.client().flushall()
    first = dev.wait_for_run(client.run_task_now(TASK_CONTRIBUTIONS_ANALYSIS, "20260211"))
    assert first["status"] == "SUCCESS"
    assert first["job"] == TASK_CONTRIBUTIONS_ANALYSIS  # the runs list reads by task
    assert first["tags"]["dagster/partition"] == "2026-02-11"
    assert first["tags"]["ocapistaine/task"] == TASK_CONTRIBUTIONS_ANALYSIS
    assert first["tags"]["ocapistaine/task_day"] == f"{TASK_CONTRIBUTIONS_ANALYSIS}:20260211"
    assert first["tags"]["dagster/max_runtime"] == "900"
    assert first["tags"][STATUS_TAG] == "success"

    forced = dev.wait_for_run(client.run_task_now(TASK_CONTRIBUTIONS_ANALYSIS, "2026-02-11", force=True))
    assert forced["status"] == "SUCCESS"
    assert forced["tags"]["ocapistaine/force"] == "true"
    assert forced["tags"][STATUS_TAG] == "success"  # not skipped: force ignores the success key


def test_scheduler_status_lists_the_schedules_on_with_their_next_tick(graphql_env):
    import time

    deadline = time.monotonic() + 45  # the daemon's first heartbeat
    status = client.get_scheduler_status()
    while not status["running"] and time.monotonic() < deadline:
        time.sleep(1)
        status = client.get_scheduler_status()
    assert status["running"] is True, status["daemons"]
    by_name = {s["name"]: s for s in status["schedules"]}
    assert set(by_name) == {"orchestrate_task_chain", "task_firecrawl", "task_opik_experiment"}
    for schedule in by_name.values():
        assert schedule["status"] == "RUNNING"
        assert schedule["timezone"] == "Europe/Paris"
        assert schedule["next_tick"] and schedule["next_tick"].endswith(("+01:00", "+02:00"))
    assert by_name["task_firecrawl"]["next_tick"][11:16] == "03:00"
    assert {"name": "alert_on_run_failure", "status": "RUNNING"} in status["sensors"]
    assert "SCHEDULER" in status["daemons"]


def month(year: int, month_: int) -> list[str]:
    import calendar

    return [f"{year}-{month_:02d}-{d:02d}" for d in range(1, calendar.monthrange(year, month_)[1] + 1)]


def marked_days(scheduler_db, span: list[str]) -> list[str]:
    """The days of ``span`` the analysis has marked done. Only a span: the daemon's schedules are on, and
    from 06:00 to 23:00 (Paris) the chain runs today and closes yesterday in this same Redis."""
    return compact(d for d in span if scheduler_db.exists(success_key(TASK_CONTRIBUTIONS_ANALYSIS, d)))


def locked_days(scheduler_db, span: list[str]) -> list[str]:
    """The days of ``span`` some task still holds a lock on (the schedules' own runs may hold today's)."""
    return compact(d for d in span if any(scheduler_db.exists(lock_key(task, d)) for task in TASK_NAMES))


def compact(days) -> list[str]:
    return [day_string(d) for d in days]


def test_a_week_from_the_job_partitions_is_one_guarded_run_per_day(graphql_env, scheduler_db, redis_server):
    """The UI's "Launch backfill" on the job task_contributions_analysis: one run of the job per day,
    each with the task's tags (so the run queue admits one per task and day)."""
    dev = graphql_env
    redis_server.client().flushall()
    days = month(2026, 3)[24:]  # 25th..31st, across the spring-forward day
    backfill_id = launch_job_backfill(
        dev, TASK_CONTRIBUTIONS_ANALYSIS, days, ["contributions", "contributions_analysis"]
    )
    backfill = wait_for_backfill_run(dev, backfill_id, timeout=180, expected_runs=len(days))
    runs = backfill["runs"]
    assert sorted({t["key"]: t["value"] for t in run["tags"]}["dagster/partition"] for run in runs) == days
    for run in runs:
        tags = {t["key"]: t["value"] for t in run["tags"]}
        assert run["status"] == "SUCCESS" and run["jobName"] == TASK_CONTRIBUTIONS_ANALYSIS
        assert tags["ocapistaine/task"] == TASK_CONTRIBUTIONS_ANALYSIS
        assert (
            tags["ocapistaine/task_day"]
            == f"{TASK_CONTRIBUTIONS_ANALYSIS}:{tags['dagster/partition'].replace('-', '')}"
        )
        assert tags[STATUS_TAG] == "success"
    assert marked_days(scheduler_db, month(2026, 3)) == compact(days)
    assert locked_days(scheduler_db, month(2026, 3)) == []

    # the operators' morning view reads the same days back from Redis and from Dagster
    import json

    from ocapistaine_pipelines.cli import main as cli

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REDIS_URL", f"redis://127.0.0.1:{redis_server.port}")
        patch.delenv("REDIS_DB_SCHEDULER", raising=False)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert cli(["status", "--days", str(len(days)), "--date", days[-1], "--json"]) == 0
    rows = [r for r in json.loads(out.getvalue()) if r["task"] == TASK_CONTRIBUTIONS_ANALYSIS]
    assert [r["date"] for r in rows] == compact(days[::-1])
    assert all(r["completed"] for r in rows)
    by_day = {run["id"]: {t["key"]: t["value"] for t in run["tags"]}["dagster/partition"] for run in runs}
    assert {r["last_run"]["run_id"]: r["date"] for r in rows} == {
        k: v.replace("-", "") for k, v in by_day.items()
    }
    assert {(r["last_run"]["status"], r["last_run"]["outcome"]) for r in rows} == {("SUCCESS", "success")}


LAUNCH_DIALOG_QUERY = """
query Job($selector: PipelineSelector!) {
  pipelineOrError(params: $selector) {
    ... on Pipeline { name isJob tags { key value } partitionKeysOrError { ... on PartitionKeys {
    partitionKeys } } }
  }
  assetNodes(pipeline: $selector) { assetKey { path } backfillPolicy { description } }
}
"""


def test_each_task_job_launches_without_talk_of_varying_backfill_policies(graphql_env):
    """The launch dialog says "varying backfill policies" when an asset's backfillPolicy is not the
    first one's (a reference comparison: two equal policies differ); with none on any asset it says
    nothing."""
    from ocapistaine_pipelines.tasks import TASKS

    dev = graphql_env
    for daily_task in TASKS.values():
        selector = {
            "repositoryLocationName": "ocapistaine_pipelines",
            "repositoryName": "__repository__",
            "pipelineName": daily_task.name,
        }
        data = dev.graphql(LAUNCH_DIALOG_QUERY, {"selector": selector})
        job = data["pipelineOrError"]
        assert job["name"] == daily_task.name and job["isJob"]
        assert {"key": "ocapistaine/task", "value": daily_task.name} in job["tags"]
        keys = job["partitionKeysOrError"]["partitionKeys"]
        assert keys[0] == "2026-01-01" and "2026-03-29" in keys
        nodes = data["assetNodes"]
        assert sorted(node["assetKey"]["path"][0] for node in nodes) == sorted(daily_task.assets)
        assert [node["backfillPolicy"] for node in nodes] == [None] * len(nodes)


RELOAD = """
mutation Reload($name: String!) {
  reloadRepositoryLocation(repositoryLocationName: $name) {
    __typename ... on WorkspaceLocationEntry { loadStatus }
  }
}
"""


def test_the_console_shows_no_warning_of_ours_at_start_or_reload(graphql_env):
    import time

    dev = graphql_env
    answer = dev.graphql(RELOAD, {"name": "ocapistaine_pipelines"})["reloadRepositoryLocation"]
    assert answer["__typename"] == "WorkspaceLocationEntry"
    time.sleep(2)
    console = dev.log_path.read_text(errors="replace")
    assert "BetaWarning" not in console and "PreviewWarning" not in console
    warnings = [line for line in console.splitlines() if "Warning" in line]
    assert not [line for line in warnings if "ocapistaine" in line], warnings


def test_a_month_from_the_cli_is_guarded_per_day(dagster_dev, scheduler_db, redis_server):
    """`dagster job execute` of the task's job with range tags runs the month in one process, same guard."""
    import json
    import subprocess

    redis_server.client().flushall()
    scheduler_db.set(success_key(TASK_CONTRIBUTIONS_ANALYSIS, "2026-04-02"), "completed", ex=86400)
    done = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "dagster"),
            "job",
            "execute",
            "-m",
            "ocapistaine_pipelines.definitions"
            if "standin" not in workspace()
            else "ocapistaine_pipelines_tests.orchestration.standin_definitions",
            "-j",
            TASK_CONTRIBUTIONS_ANALYSIS,
            "--tags",
            json.dumps(
                {
                    "dagster/asset_partition_range_start": "2026-04-01",
                    "dagster/asset_partition_range_end": "2026-04-30",
                }
            ),
        ],
        cwd=str(ROOT),
        env=dagster_dev.env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    around = month(2026, 3) + month(2026, 4) + month(2026, 5)
    assert marked_days(scheduler_db, around) == compact(month(2026, 4))
    assert locked_days(scheduler_db, around) == []
    assert "task_contributions_analysis 20260402 skipped: already_completed" in done.stderr


TICK_QUERY = """
query Tick($selector: ScheduleSelector!, $ts: Int!) {
  scheduleOrError(scheduleSelector: $selector) {
    ... on Schedule {
      futureTick(tickTimestamp: $ts) {
        evaluationResult {
          skipReason
          error { message }
          runRequests { runKey tags { key value } assetSelection { path } }
        }
      }
    }
  }
}
"""


def dry_run_tick(dev: DagsterDev, schedule: str, when) -> dict:
    """Evaluate one tick in the code location's own process, with its resources from the environment."""
    selector = {
        "repositoryLocationName": "ocapistaine_pipelines",
        "repositoryName": "__repository__",
        "scheduleName": schedule,
    }
    data = dev.graphql(TICK_QUERY, {"selector": selector, "ts": int(when.timestamp())})
    return data["scheduleOrError"]["futureTick"]["evaluationResult"]


def test_the_chain_schedule_ticks_in_the_code_location_with_the_real_redis(
    graphql_env, scheduler_db, redis_server
):
    import datetime as dt
    from zoneinfo import ZoneInfo

    dev = graphql_env
    redis_server.client().flushall()
    noon = dt.datetime(2026, 5, 12, 12, 4, tzinfo=ZoneInfo("Europe/Paris"))

    result = dry_run_tick(dev, "orchestrate_task_chain", noon)
    assert result["error"] is None, result
    # today's run, and yesterday's day close (a dry run launches nothing, so it is asked for again below)
    request, close = result["runRequests"]
    tags = {t["key"]: t["value"] for t in request["tags"]}
    assert tags["dagster/partition"] == "2026-05-12"
    assert tags["ocapistaine/task_day"] == f"{TASK_CONTRIBUTIONS_ANALYSIS}:20260512"
    assert request["runKey"] == f"{TASK_CONTRIBUTIONS_ANALYSIS}:2026-05-12:attempt-1"
    assert request["assetSelection"] is None  # the schedule's job: task_contributions_analysis
    close_tags = {t["key"]: t["value"] for t in close["tags"]}
    assert close["runKey"] == "close:2026-05-11:attempt-1" and close_tags["ocapistaine/force"] == "true"
    assert close_tags["dagster/partition"] == "2026-05-11"

    scheduler_db.set(success_key(TASK_CONTRIBUTIONS_ANALYSIS, "2026-05-12"), "completed", ex=86400)
    skipped = dry_run_tick(dev, "orchestrate_task_chain", noon)
    assert [r["runKey"] for r in skipped["runRequests"]] == ["close:2026-05-11:attempt-1"]

    crawl = dry_run_tick(
        dev, "task_firecrawl", dt.datetime(2026, 10, 25, 3, 0, tzinfo=ZoneInfo("Europe/Paris"))
    )
    assert [{t["key"]: t["value"] for t in r["tags"]}["dagster/partition"] for r in crawl["runRequests"]] == [
        "2026-10-25"
    ]


def test_a_failed_run_reaches_the_webhook_through_the_daemon(graphql_env, alert_webhook, redis_server):
    """The failure sensor runs in the daemon and sees asset runs: the analysis of a day whose table is
    corrupt fails."""
    import time
    from pathlib import Path

    from dagster_graphql import DagsterGraphQLClient

    dev = graphql_env
    redis_server.client().flushall()
    table = Path(dev.env["OCAPISTAINE_DATA_DIR"]) / "contributions" / "2026-06-01.parquet"
    table.parent.mkdir(parents=True, exist_ok=True)
    table.write_bytes(b"not a parquet file")
    run_id = DagsterGraphQLClient("127.0.0.1", port_number=dev.port).submit_job_execution(
        "__ASSET_JOB", asset_selection=[["contributions_analysis"]], tags={"dagster/partition": "2026-06-01"}
    )
    assert dev.wait_for_run(run_id)["status"] == "FAILURE"
    deadline = time.monotonic() + 75  # the failure sensor is evaluated every 30 s here
    while time.monotonic() < deadline and not any(p.get("run_id") == run_id for p in alert_webhook.received):
        time.sleep(0.5)
    [payload] = [p for p in alert_webhook.received if p.get("run_id") == run_id]
    assert payload["task"] == TASK_CONTRIBUTIONS_ANALYSIS
    assert payload["date"] == "2026-06-01"
    assert payload["asset_keys"] == ["contributions_analysis"]
    assert "2026-06-01" in payload["error"] or "20260601" in payload["error"]


def test_deadline_alerts_run_in_the_daemon_and_reach_the_webhook(graphql_env, alert_webhook):
    """With an empty Redis every task's last deadline is missed: the daemon's deadline_alerts posts them."""
    import time

    deadline = time.monotonic() + 90  # the sensor ticks every 60 s
    while time.monotonic() < deadline and not any(
        p.get("kind") == "deadline_missed" for p in alert_webhook.received
    ):
        time.sleep(0.5)
    missed = [p for p in alert_webhook.received if p.get("kind") == "deadline_missed"]
    assert missed, alert_webhook.received
    assert {p["task"] for p in missed} <= {
        TASK_CONTRIBUTIONS_ANALYSIS,
        "task_firecrawl",
        "task_opik_experiment",
    }
    keys = [(p["task"], p["date"]) for p in missed]
    assert len(keys) == len(set(keys))  # once per task and day
