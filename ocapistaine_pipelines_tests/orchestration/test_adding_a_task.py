"""docs/adding-a-task.md, proven: one declaration makes a task guarded, scheduled, listed by the CLI,
read by get_task_history and launched through the client (as its own job, with the queue's tags)."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from ocapistaine_pipelines import client
from ocapistaine_pipelines.cli import main as cli
from ocapistaine_pipelines.guard.contract import STATUS_TAG, TASK_NAMES, lock_key, success_key
from ocapistaine_pipelines.orchestration.jobs import task_jobs
from ocapistaine_pipelines.orchestration.schedules import task_schedule, task_schedules
from ocapistaine_pipelines.tasks import TASKS, AtTime, DailyTask, InChain

from .dagster_dev import ROOT, DagsterDev
from .standin_assets import ASSETS
from .throwaway_task import THROWAWAY, weekly_digest

NAME = THROWAWAY.name
DAY = "2026-03-29"  # spring forward


@pytest.fixture
def declared():
    TASKS.declare(THROWAWAY)
    yield THROWAWAY
    TASKS.withdraw(NAME)


def throwaway_defs(resources) -> dg.Definitions:
    return dg.Definitions(
        assets=[*ASSETS, weekly_digest], jobs=task_jobs(), schedules=task_schedules(), resources=resources
    )


@pytest.mark.slow
def test_the_declaration_makes_a_guarded_job(declared, base_resources, scheduler_db):
    assert NAME in TASK_NAMES  # the guard's list is live
    defs = throwaway_defs(base_resources)
    job = defs.resolve_job_def(NAME)
    assert job.tags == {
        "ocapistaine/task": NAME,
        "dagster/max_runtime": "600",
        "dagster-celery/queue": "dagster",
    }
    with dg.instance_for_test() as instance:
        first = job.execute_in_process(instance=instance, partition_key=DAY)
        assert first.success
        assert instance.get_run_by_id(first.run_id).tags["ocapistaine/task_day"] == f"{NAME}:20260329"
        assert instance.get_run_by_id(first.run_id).tags[STATUS_TAG] == "success"
        assert scheduler_db.get(success_key(NAME, DAY)) == "completed"
        assert scheduler_db.get(lock_key(NAME, DAY)) is None
        second = job.execute_in_process(instance=instance, partition_key=DAY)
        assert instance.get_run_by_id(second.run_id).tags[STATUS_TAG] == "skipped"  # not recurring


def test_the_declaration_makes_a_schedule_in_paris_time(declared, base_resources, instance):
    schedule = task_schedule(THROWAWAY)
    assert schedule in task_schedules()
    assert (schedule.name, schedule.job_name, schedule.cron_schedule) == (NAME, NAME, "30 4 * * *")
    assert schedule.execution_timezone == "Europe/Paris"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    when = dt.datetime(2026, 3, 29, 4, 30, tzinfo=ZoneInfo("Europe/Paris"))
    repository = throwaway_defs(base_resources).get_repository_def()
    with dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=when,
        resources={"guard": base_resources["guard"]},
        repository_def=repository,
    ) as context:
        [request] = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == DAY
    assert request.run_key == f"{NAME}:{DAY}:attempt-1"
    assert request.tags["ocapistaine/task_day"] == f"{NAME}:20260329"


def test_the_cli_and_the_history_list_it(declared, redis_server, scheduler_db, monkeypatch, capsys):
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{redis_server.port}")
    for name in ("REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "REDIS_DB_SCHEDULER"):
        monkeypatch.delenv(name, raising=False)
    scheduler_db.set(success_key(NAME, DAY), "completed", ex=86400)
    scheduler_db.set(lock_key(NAME, DAY), "stuck-run", ex=300)
    assert cli(["status", "--date", DAY, "--json"]) == 0
    rows = {row["task"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows[NAME]["completed"] is True and rows[NAME]["lock_holder"] == "stuck-run"
    assert cli(["unlock", NAME, "--date", DAY]) == 0
    assert "held by stuck-run" in capsys.readouterr().out
    assert cli(["rerun", NAME, "--date", DAY]) == 0
    assert scheduler_db.exists(success_key(NAME, DAY)) == 0
    history = client.get_task_history(DAY, environ={"REDIS_URL": f"redis://127.0.0.1:{redis_server.port}"})
    assert history[NAME]["completed"] is False


def test_without_the_declaration_nothing_knows_it(redis_server, capsys):
    assert NAME not in TASK_NAMES
    with pytest.raises(SystemExit):
        cli(["rerun", NAME, "--date", DAY])
    with pytest.raises(ValueError, match=f"unknown task '{NAME}'"):
        client.run_task_now(NAME, DAY, client=object())
    assert NAME not in {job.name for job in task_jobs()}


def test_a_declaration_that_cannot_work_is_refused_at_once():
    with pytest.raises(ValueError, match="task_<letters"):
        DailyTask(name="digest:weekly", assets=("a",), runs=AtTime("0 4 * * *"), deadline=dt.time(6))
    with pytest.raises(ValueError, match="declares no asset"):
        DailyTask(name="task_empty", assets=(), runs=AtTime("0 4 * * *"), deadline=dt.time(6))
    with pytest.raises(ValueError, match="only a task in the chain closes its day"):
        DailyTask(
            name="task_x", assets=("a",), runs=AtTime("0 4 * * *"), deadline=dt.time(6), closes_day=True
        )
    with pytest.raises(ValueError, match="declare those first"):
        TASKS.declare(
            DailyTask(name="task_x", assets=("a",), runs=InChain(after=("task_nope",)), deadline=dt.time(6))
        )
    with pytest.raises(ValueError, match="schedule name 'orchestrate_task_chain' is already"):
        TASKS.declare(
            DailyTask(
                name="task_x",
                assets=("a",),
                runs=InChain(),
                deadline=dt.time(6),
                schedule_name="orchestrate_task_chain",
            )
        )
    assert "task_x" not in TASKS


@pytest.mark.slow
def test_launched_through_the_client_as_its_own_job(
    declared, redis_server, scheduler_db, tmp_path, monkeypatch
):
    """`dagster dev` on a code location that declares the task: run_task_now runs its job; the
    scheduler status lists its schedule, ON."""
    env = {"REDIS_URL": f"redis://127.0.0.1:{redis_server.port}", "OCAPISTAINE_DATA_DIR": str(tmp_path)}
    for name in ("REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD"):
        env[name] = ""
    with DagsterDev(
        ROOT / "ocapistaine_pipelines_tests" / "orchestration" / "throwaway_workspace.yaml", env
    ) as dev:
        monkeypatch.setenv("DAGSTER_GRAPHQL_URL", dev.url)
        run = dev.wait_for_run(client.run_task_now(NAME, DAY))
        assert run["status"] == "SUCCESS", dev.log_tail()
        assert run["job"] == NAME
        assert run["tags"]["ocapistaine/task"] == NAME
        assert run["tags"]["ocapistaine/task_day"] == f"{NAME}:20260329"
        assert run["tags"][STATUS_TAG] == "success"
        assert scheduler_db.get(success_key(NAME, DAY)) == "completed"
        assert (tmp_path / "digest" / f"{DAY}.txt").read_text() == f"digest of {DAY}\n"
        status = client.get_scheduler_status()
        [schedule] = [s for s in status["schedules"] if s["name"] == NAME]
        assert schedule["status"] == "RUNNING" and schedule["cron"] == "30 4 * * *"
