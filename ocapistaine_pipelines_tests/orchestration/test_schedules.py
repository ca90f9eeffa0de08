"""The schedules at fixed times (23:56, both daylight-saving days) and with Redis in each state."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._core.utils import make_new_run_id
from dagster._utils.schedules import cron_string_iterator

from ocapistaine_pipelines.guard import (
    TASK_CONTRIBUTIONS_ANALYSIS,
    TASK_FIRECRAWL,
    TASK_OPIK_EXPERIMENT,
    TaskGuard,
)
from ocapistaine_pipelines.guard.contract import FORCE_TAG, STATUS_TAG, lock_key, success_key
from ocapistaine_pipelines.orchestration import chain, schedules
from ocapistaine_pipelines.orchestration.chain import (
    CONTRIBUTIONS,
    CONTRIBUTIONS_ANALYSIS,
    DAY_CLOSE_TAG,
    MAX_RUNTIME_TAG,
    TASK_DAY_TAG,
    TASK_TAG,
)
from ocapistaine_pipelines.orchestration.jobs import task_jobs
from ocapistaine_pipelines.orchestration.schedules import (
    orchestrate_task_chain,
    task_firecrawl,
    task_opik_experiment,
)
from ocapistaine_pipelines.redis_connection import RedisResource
from ocapistaine_pipelines.resources import build_resources
from ocapistaine_pipelines.tasks import TASKS, DailyTask, InChain, task
from ocapistaine_pipelines_tests.services import free_port

from .standin_assets import ASSETS

PARIS = ZoneInfo("Europe/Paris")
UTC = dt.UTC


def paris(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS)


# resources of the code location are unused here: each tick passes its own guard
def _repository() -> dg.RepositoryDefinition:
    return dg.Definitions(
        assets=ASSETS,
        jobs=task_jobs(),
        schedules=schedules.task_schedules(),
        resources=build_resources({"REDIS_URL": "redis://127.0.0.1:9"}),
    ).get_repository_def()


_REPOSITORY = _repository()


def tick(schedule: dg.ScheduleDefinition, instance, when: dt.datetime, guard=None, repository=None):
    """Evaluate one tick as the daemon does, against the stand-in code location."""
    resources = {"guard": guard} if guard is not None else {}
    with dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=when,
        resources=resources,
        repository_def=repository or _REPOSITORY,
    ) as context:
        return schedule.evaluate_tick(context)


# -- the partition of a tick --------------------------------------------------------------------


@pytest.mark.parametrize(
    "when, expected",
    [
        (paris(2026, 11, 29, 23, 56), "2026-11-29"),  # last chain tick of a winter day (22:56 UTC)
        (paris(2026, 7, 14, 23, 56), "2026-07-14"),  # summer: 21:56 UTC
        (dt.datetime(2026, 7, 14, 22, 1, tzinfo=UTC), "2026-07-15"),  # 00:01 in Paris: already the 15th
        (paris(2026, 3, 29, 3, 0), "2026-03-29"),  # spring forward: 02:00 -> 03:00 that night
        (dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "2026-03-29"),
        (paris(2026, 10, 25, 3, 0), "2026-10-25"),  # fall back: 03:00 -> 02:00
        (dt.datetime(2026, 10, 24, 22, 30, tzinfo=UTC), "2026-10-25"),  # 00:30 CEST
        (dt.datetime(2026, 10, 25, 22, 56, tzinfo=UTC), "2026-10-25"),  # 23:56 CET
    ],
)
@pytest.mark.slow
def test_the_tick_partition_is_the_paris_day_of_the_scheduled_time(instance, guard, when, expected):
    data = tick(task_firecrawl, instance, when, guard)
    assert [request.partition_key for request in data.run_requests] == [expected]


@pytest.mark.parametrize("day", ["2026-03-29", "2026-10-25", "2026-11-29"])
def test_every_tick_of_a_day_targets_that_day_including_dst_days(day):
    """Walk the real cron iterator through a whole day in Europe/Paris, as the daemon does."""
    start = dt.datetime.fromisoformat(day).replace(tzinfo=PARIS)
    end = start + dt.timedelta(days=1)

    def ticks(schedule):
        out = []
        for moment in cron_string_iterator(
            start.timestamp(), schedule.cron_schedule, schedule.execution_timezone
        ):
            if moment >= end:
                return out
            out.append(moment)

    chain_ticks = ticks(orchestrate_task_chain)
    assert len(chain_ticks) == 18 * 9  # 06:00 .. 23:56 every 7 minutes, whatever the day's length
    assert {dt.datetime.fromtimestamp(t.timestamp(), PARIS).strftime("%Y-%m-%d") for t in chain_ticks} == {
        day
    }
    assert chain_ticks[-1].astimezone(PARIS).strftime("%H:%M") == "23:56"
    for schedule, hour in ((task_firecrawl, 3), (task_opik_experiment, 5)):
        [only] = ticks(schedule)
        assert only.astimezone(PARIS).hour == hour
        assert schedules.partition_key_for(only) == day


def test_schedules_are_on_by_default_in_paris_time():
    for schedule in schedules.task_schedules():
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
        assert schedule.execution_timezone == "Europe/Paris"
    assert {s.name: s.cron_schedule for s in schedules.task_schedules()} == {
        "orchestrate_task_chain": "*/7 6-23 * * *",
        TASK_FIRECRAWL: "0 3 * * *",
        TASK_OPIK_EXPERIMENT: "0 5 * * *",
    }


# -- the chain and Redis ------------------------------------------------------------------------

NOON = paris(2026, 11, 29, 12, 4)
DAY = "2026-11-29"
YESTERDAY = "2026-11-28"


@pytest.fixture
def closed_yesterday(instance):
    """Yesterday's day close already succeeded, so these tests see only the day's own requests."""
    _store_run(
        instance,
        {
            "dagster/partition": YESTERDAY,
            TASK_TAG: TASK_CONTRIBUTIONS_ANALYSIS,
            DAY_CLOSE_TAG: YESTERDAY,
            STATUS_TAG: "success",
        },
        [CONTRIBUTIONS, CONTRIBUTIONS_ANALYSIS],
        dg.DagsterRunStatus.SUCCESS,
    )


def day_requests(data) -> list[dg.RunRequest]:
    return [r for r in data.run_requests if DAY_CLOSE_TAG not in r.tags]


def close_requests(data) -> list[dg.RunRequest]:
    return [r for r in data.run_requests if DAY_CLOSE_TAG in r.tags]


def test_chain_requests_todays_run_when_the_success_key_is_missing(instance, guard, closed_yesterday):
    data = tick(orchestrate_task_chain, instance, NOON, guard)
    [request] = data.run_requests
    assert request.partition_key == DAY
    assert orchestrate_task_chain.job_name == TASK_CONTRIBUTIONS_ANALYSIS  # the task's job: both assets
    assert request.asset_selection is None
    assert request.tags[TASK_TAG] == TASK_CONTRIBUTIONS_ANALYSIS
    assert request.run_key == f"{TASK_CONTRIBUTIONS_ANALYSIS}:{DAY}:attempt-1"
    assert data.skip_message is None
    # one run per task and day in the queue; run monitoring gives up on it after 15 minutes
    assert request.tags[TASK_DAY_TAG] == f"{TASK_CONTRIBUTIONS_ANALYSIS}:20261129"
    assert request.tags[MAX_RUNTIME_TAG] == "900"


def test_chain_skips_a_completed_day_and_says_why(instance, guard, scheduler_db, closed_yesterday):
    scheduler_db.set(success_key(TASK_CONTRIBUTIONS_ANALYSIS, DAY), "completed", ex=86400)
    data = tick(orchestrate_task_chain, instance, NOON, guard)
    assert data.run_requests == []
    assert "task_contributions_analysis 20261129: already completed" in data.skip_message
    # the day before is not completed: a tick of that day still asks for it
    yesterday = tick(orchestrate_task_chain, instance, paris(2026, 11, 28, 23, 56), guard)
    assert [r.partition_key for r in day_requests(yesterday)] == ["2026-11-28"]


def test_chain_skips_while_another_process_holds_the_lock(instance, guard, scheduler_db, closed_yesterday):
    scheduler_db.set(lock_key(TASK_CONTRIBUTIONS_ANALYSIS, DAY), "legacy-run-42", ex=300)
    data = tick(orchestrate_task_chain, instance, NOON, guard)
    assert data.run_requests == []
    assert "lock held by legacy-run-42" in data.skip_message


def test_chain_skips_with_a_clear_message_when_redis_is_down(instance):
    port = free_port()  # nothing listens there
    secret = "s3cret-pass"
    down = TaskGuard(
        redis=RedisResource(url=f"redis://:{secret}@127.0.0.1:{port}", connect_timeout_seconds=0.2, retries=0)
    )
    data = tick(orchestrate_task_chain, instance, NOON, down)
    assert data.run_requests == []
    assert f"Redis unreachable at 127.0.0.1:{port} db 6" in data.skip_message
    assert "nothing requested" in data.skip_message
    assert secret not in data.skip_message


@pytest.fixture
def task_after_analysis():
    """A throwaway chain task that runs after the analysis (declared for this test only)."""
    declared = TASKS.declare(
        DailyTask(
            name="task_after_analysis",
            assets=("opik_experiment",),
            runs=InChain(after=(TASK_CONTRIBUTIONS_ANALYSIS,)),
            deadline=dt.time(23, 30),
        )
    )
    yield declared
    TASKS.withdraw(declared.name)


def test_chain_waits_for_dependencies(instance, guard, scheduler_db, closed_yesterday, task_after_analysis):
    """A task that depends on another runs only once the other's success key exists."""
    after = schedules.task_schedule(task_after_analysis)
    assert (after.name, after.job_name, after.cron_schedule) == (
        "task_after_analysis",
        "task_after_analysis",
        "*/7 6-23 * * *",
    )
    repository = _repository()
    first = tick(orchestrate_task_chain, instance, NOON, guard, repository)
    assert [r.tags[TASK_TAG] for r in first.run_requests] == [TASK_CONTRIBUTIONS_ANALYSIS]
    waits = tick(after, instance, NOON, guard, repository)
    assert waits.run_requests == []
    assert "task_after_analysis 20261129: waiting for task_contributions_analysis" in waits.skip_message

    scheduler_db.set(success_key(TASK_CONTRIBUTIONS_ANALYSIS, DAY), "completed", ex=86400)
    second = tick(after, instance, NOON, guard, repository)
    assert [r.tags[TASK_TAG] for r in second.run_requests] == ["task_after_analysis"]
    assert tick(orchestrate_task_chain, instance, NOON, guard, repository).run_requests == []

    scheduler_db.delete(success_key(TASK_CONTRIBUTIONS_ANALYSIS, DAY))
    scheduler_db.set(lock_key(TASK_CONTRIBUTIONS_ANALYSIS, DAY), "someone", ex=300)
    third = tick(after, instance, NOON, guard, repository)
    assert third.run_requests == []
    assert "waiting for task_contributions_analysis" in third.skip_message
    assert (
        "lock held by someone" in tick(orchestrate_task_chain, instance, NOON, guard, repository).skip_message
    )


# -- never two queued runs for the same task and day -----------------------------------------


def _store_run(
    instance, tags: dict, assets, status: dg.DagsterRunStatus, job_name: str = "__ASSET_JOB"
) -> str:
    """A run record as the queue stores an asset run: job, tags, asset selection and status."""
    from dagster._core.remote_origin import (
        InProcessCodeLocationOrigin,
        RemoteJobOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    origin = RemoteJobOrigin(
        RemoteRepositoryOrigin(
            InProcessCodeLocationOrigin(LoadableTargetOrigin(python_file=__file__)), "__repository__"
        ),
        job_name,
    )
    run = dg.DagsterRun(
        job_name=job_name,
        run_id=make_new_run_id(),
        status=status,
        tags=tags,
        asset_selection=frozenset(assets) if assets else None,
        remote_job_origin=origin,
    )
    instance.add_run(run)
    return run.run_id


@pytest.mark.parametrize("status", [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTED])
def test_chain_never_queues_a_second_run_for_the_same_task_and_day(instance, guard, status, closed_yesterday):
    run_id = _store_run(instance, {"dagster/partition": DAY}, [CONTRIBUTIONS, CONTRIBUTIONS_ANALYSIS], status)
    data = tick(orchestrate_task_chain, instance, NOON, guard)
    assert data.run_requests == []
    assert f"a run is already on its way: {run_id[:8]} ({status.value.lower()})" in data.skip_message


def test_a_range_run_covering_today_counts_as_on_its_way(instance, guard, closed_yesterday):
    _store_run(
        instance,
        {
            "dagster/asset_partition_range_start": "2026-11-01",
            "dagster/asset_partition_range_end": "2026-11-30",
        },
        [CONTRIBUTIONS_ANALYSIS],
        dg.DagsterRunStatus.STARTED,
    )
    data = tick(orchestrate_task_chain, instance, NOON, guard)
    assert data.run_requests == []
    assert "already on its way" in data.skip_message


def test_runs_of_other_days_or_other_tasks_do_not_block(instance, guard):
    _store_run(
        instance, {"dagster/partition": "2026-11-28"}, [CONTRIBUTIONS_ANALYSIS], dg.DagsterRunStatus.QUEUED
    )
    _store_run(instance, {"dagster/partition": DAY}, [chain.CRAWLED_DOCUMENTS], dg.DagsterRunStatus.STARTED)
    data = tick(orchestrate_task_chain, instance, NOON, guard)
    assert [r.partition_key for r in data.run_requests] == [DAY]


def _started(instance, run_id: str, seconds_ago: float) -> None:
    """Record the run's start as its worker does (RUN_START event), ``seconds_ago`` seconds ago."""
    from dagster._core.events import DagsterEvent, DagsterEventType

    run = instance.get_run_by_id(run_id)
    event = DagsterEvent(DagsterEventType.PIPELINE_START.value, job_name=run.job_name, message="started")
    instance.handle_run_event(run_id, event, dt.datetime.fromtimestamp(time.time() - seconds_ago, UTC))
    assert instance.get_run_record_by_id(run_id).start_time < time.time() - seconds_ago + 1


TEN_MINUTES = 600  # twice the lock TTL: a live run renewed its lock 6 times by now


def test_a_started_run_whose_worker_died_does_not_hold_back_the_chain(instance, guard, closed_yesterday):
    """An OOM-killed worker stays STARTED (the local launcher cannot see it): no lock after a TTL = dead."""
    dead = _store_run(
        instance,
        {"dagster/partition": DAY},
        [CONTRIBUTIONS, CONTRIBUTIONS_ANALYSIS],
        dg.DagsterRunStatus.STARTED,
    )
    _started(instance, dead, TEN_MINUTES)
    data = tick(orchestrate_task_chain, instance, NOON, guard)
    [request] = data.run_requests
    assert request.partition_key == DAY and request.tags[TASK_TAG] == TASK_CONTRIBUTIONS_ANALYSIS


def test_a_dead_run_whose_lock_another_process_took_does_not_count(
    instance, guard, scheduler_db, closed_yesterday
):
    dead = _store_run(
        instance, {"dagster/partition": "2026-03-29"}, [chain.CRAWLED_DOCUMENTS], dg.DagsterRunStatus.STARTED
    )
    _started(instance, dead, TEN_MINUTES)
    scheduler_db.set(lock_key(TASK_FIRECRAWL, "2026-03-29"), "another-run", ex=300)
    crawl = tick(task_firecrawl, instance, paris(2026, 3, 29, 3, 0), guard)
    assert [r.partition_key for r in crawl.run_requests] == ["2026-03-29"]


def test_a_started_run_holding_its_lock_is_on_its_way(instance, guard, scheduler_db):
    # on the crawl's fixed schedule: the chain's own lock check would skip before the in-flight check
    crawl_run = _store_run(
        instance, {"dagster/partition": "2026-03-29"}, [chain.CRAWLED_DOCUMENTS], dg.DagsterRunStatus.STARTED
    )
    _started(instance, crawl_run, TEN_MINUTES)
    scheduler_db.set(lock_key(TASK_FIRECRAWL, "2026-03-29"), crawl_run, ex=300)
    crawl = tick(task_firecrawl, instance, paris(2026, 3, 29, 3, 0), guard)
    assert crawl.run_requests == []
    assert f"a run is already on its way: {crawl_run[:8]} (started)" in crawl.skip_message


def test_a_run_started_less_than_a_lock_ttl_ago_is_on_its_way_without_a_lock(
    instance, guard, closed_yesterday
):
    young = _store_run(
        instance,
        {"dagster/partition": DAY},
        [CONTRIBUTIONS, CONTRIBUTIONS_ANALYSIS],
        dg.DagsterRunStatus.STARTED,
    )
    _started(
        instance, young, 60
    )  # still fetching contributions: the analysis step has not taken the lock yet
    data = tick(orchestrate_task_chain, instance, NOON, guard)
    assert data.run_requests == []
    assert f"a run is already on its way: {young[:8]} (started)" in data.skip_message


def test_a_range_run_working_on_another_day_of_its_range_is_alive(
    instance, guard, scheduler_db, closed_yesterday
):
    backfill = _store_run(
        instance,
        {
            "dagster/asset_partition_range_start": "2026-11-01",
            "dagster/asset_partition_range_end": "2026-11-30",
        },
        [CONTRIBUTIONS_ANALYSIS],
        dg.DagsterRunStatus.STARTED,
    )
    _started(instance, backfill, 3600)
    scheduler_db.set(lock_key(TASK_CONTRIBUTIONS_ANALYSIS, "2026-11-12"), backfill, ex=300)
    data = tick(orchestrate_task_chain, instance, NOON, guard)
    assert data.run_requests == []
    assert f"already on its way: {backfill[:8]}" in data.skip_message

    scheduler_db.delete(lock_key(TASK_CONTRIBUTIONS_ANALYSIS, "2026-11-12"))  # the backfill's worker died
    assert [r.partition_key for r in tick(orchestrate_task_chain, instance, NOON, guard).run_requests] == [
        DAY
    ]


def test_without_redis_a_stale_started_run_still_counts_as_on_its_way(instance):
    port = free_port()
    down = TaskGuard(
        redis=RedisResource(url=f"redis://:pw@127.0.0.1:{port}", connect_timeout_seconds=0.2, retries=0)
    )
    stale = _store_run(
        instance, {"dagster/partition": "2026-03-29"}, [chain.CRAWLED_DOCUMENTS], dg.DagsterRunStatus.STARTED
    )
    _started(instance, stale, TEN_MINUTES)
    crawl = tick(task_firecrawl, instance, paris(2026, 3, 29, 3, 0), down)
    assert crawl.run_requests == []
    assert f"a run is already on its way: {stale[:8]} (started)" in crawl.skip_message


def test_a_failed_run_gets_a_new_run_key_on_the_next_tick(instance, guard, closed_yesterday):
    first = tick(orchestrate_task_chain, instance, NOON, guard).run_requests[0]
    _store_run(
        instance,
        {"dagster/partition": DAY, TASK_TAG: TASK_CONTRIBUTIONS_ANALYSIS},
        [CONTRIBUTIONS, CONTRIBUTIONS_ANALYSIS],
        dg.DagsterRunStatus.FAILURE,
    )
    second = tick(orchestrate_task_chain, instance, paris(2026, 11, 29, 12, 11), guard).run_requests[0]
    assert first.run_key.endswith(":attempt-1")
    assert second.run_key.endswith(":attempt-2")


def test_fixed_time_schedules_request_their_asset_and_skip_when_one_is_on_its_way(instance, guard):
    crawl = tick(task_firecrawl, instance, paris(2026, 3, 29, 3, 0), guard)
    [request] = crawl.run_requests
    assert (task_firecrawl.job_name, request.asset_selection) == (TASK_FIRECRAWL, None)
    assert request.run_key == f"{TASK_FIRECRAWL}:2026-03-29:attempt-1"
    assert request.tags[TASK_DAY_TAG] == f"{TASK_FIRECRAWL}:20260329"
    assert request.tags[MAX_RUNTIME_TAG] == str(2 * 3600)
    assert request.tags[chain.CELERY_QUEUE_TAG] == "crawl"  # long crawls on their own Celery workers
    opik = tick(task_opik_experiment, instance, paris(2026, 10, 25, 5, 0), guard)
    assert task_opik_experiment.job_name == TASK_OPIK_EXPERIMENT and len(opik.run_requests) == 1
    assert opik.run_requests[0].partition_key == "2026-10-25"
    assert opik.run_requests[0].tags[TASK_DAY_TAG] == f"{TASK_OPIK_EXPERIMENT}:20261025"
    assert opik.run_requests[0].tags[MAX_RUNTIME_TAG] == "900"
    assert opik.run_requests[0].tags[chain.CELERY_QUEUE_TAG] == "dagster"

    _store_run(
        instance, {"dagster/partition": "2026-03-29"}, [chain.CRAWLED_DOCUMENTS], dg.DagsterRunStatus.STARTED
    )
    again = tick(task_firecrawl, instance, paris(2026, 3, 29, 3, 0), guard)
    assert again.run_requests == []
    assert "task_firecrawl 2026-03-29: a run is already on its way" in again.skip_message


# -- the day close: yesterday's late contributions --------------------------------------------

FIRST_TICK = paris(2026, 11, 29, 6, 0)


def _launch(instance, request: dg.RunRequest, status: dg.DagsterRunStatus, status_tag=None) -> str:
    """Store the run the daemon creates for a request (partition and run key tags included), with the
    ``ocapistaine/status`` tag the guard writes at the end of the day's work."""
    tags = {**request.tags, "dagster/partition": request.partition_key, "dagster/run_key": request.run_key}
    if status_tag:
        tags[STATUS_TAG] = status_tag
    name = request.tags[TASK_TAG]
    return _store_run(instance, tags, None, status, job_name=task(name).job_name)


def test_first_tick_of_a_day_requests_a_forced_day_close_of_yesterday(instance, guard, scheduler_db):
    # yesterday succeeded at its first tick: without the close, what arrived after that is never read
    scheduler_db.set(success_key(TASK_CONTRIBUTIONS_ANALYSIS, YESTERDAY), "completed", ex=86400)
    data = tick(orchestrate_task_chain, instance, FIRST_TICK, guard)
    [close] = close_requests(data)
    assert close.partition_key == YESTERDAY
    assert close.run_key == f"close:{YESTERDAY}:attempt-1"
    assert close.asset_selection is None  # the task's job: contributions + contributions_analysis
    assert close.tags[FORCE_TAG] == "true" and close.tags[DAY_CLOSE_TAG] == YESTERDAY
    assert close.tags[TASK_TAG] == TASK_CONTRIBUTIONS_ANALYSIS
    assert close.tags[TASK_DAY_TAG] == f"{TASK_CONTRIBUTIONS_ANALYSIS}:20261128"
    assert close.tags[MAX_RUNTIME_TAG] == "900"
    # today's own run is requested by the same tick
    assert [r.partition_key for r in day_requests(data)] == [DAY]


def test_a_successful_day_close_is_not_requested_again(instance, guard, scheduler_db):
    [close] = close_requests(tick(orchestrate_task_chain, instance, FIRST_TICK, guard))
    _launch(instance, close, dg.DagsterRunStatus.SUCCESS, status_tag="success")
    scheduler_db.set(success_key(TASK_CONTRIBUTIONS_ANALYSIS, DAY), "completed", ex=86400)
    for later in (paris(2026, 11, 29, 6, 7), paris(2026, 11, 29, 23, 56)):
        data = tick(orchestrate_task_chain, instance, later, guard)
        assert data.run_requests == []
        assert (
            data.skip_message == "task_contributions_analysis 20261129: already completed (success key set)"
        )
    # the next day closes its own yesterday
    [next_close] = close_requests(tick(orchestrate_task_chain, instance, paris(2026, 11, 30, 6, 0), guard))
    assert next_close.partition_key == DAY and next_close.run_key == f"close:{DAY}:attempt-1"


def test_a_queued_day_close_is_not_requested_twice(instance, guard, scheduler_db):
    [close] = close_requests(tick(orchestrate_task_chain, instance, FIRST_TICK, guard))
    run_id = _launch(instance, close, dg.DagsterRunStatus.QUEUED)
    scheduler_db.set(success_key(TASK_CONTRIBUTIONS_ANALYSIS, DAY), "completed", ex=86400)
    data = tick(orchestrate_task_chain, instance, paris(2026, 11, 29, 6, 7), guard)
    assert data.run_requests == []
    assert (
        f"day close of {YESTERDAY} waits: task_contributions_analysis {YESTERDAY}: a run is already on its "
        f"way: {run_id[:8]}" in (data.skip_message)
    )


@pytest.mark.parametrize(
    "status, status_tag",
    [
        (dg.DagsterRunStatus.FAILURE, "failed"),  # the LLM provider answered 500s all along
        (dg.DagsterRunStatus.FAILURE, None),  # the run died before the guard tagged it
        (dg.DagsterRunStatus.SUCCESS, "pending"),  # the guard deferred the day: items still to judge
        (dg.DagsterRunStatus.SUCCESS, "skipped"),  # yesterday's lock was held by another process
        (dg.DagsterRunStatus.CANCELED, None),
    ],
)
@pytest.mark.slow
def test_a_day_close_that_did_not_succeed_is_asked_again(instance, guard, scheduler_db, status, status_tag):
    [close] = close_requests(tick(orchestrate_task_chain, instance, FIRST_TICK, guard))
    _launch(instance, close, status, status_tag=status_tag)
    scheduler_db.set(success_key(TASK_CONTRIBUTIONS_ANALYSIS, DAY), "completed", ex=86400)
    later = tick(orchestrate_task_chain, instance, paris(2026, 11, 29, 6, 7), guard)
    [again] = later.run_requests
    assert again.run_key == f"close:{YESTERDAY}:attempt-2"
    assert again.partition_key == YESTERDAY and again.tags[FORCE_TAG] == "true"


def test_the_day_close_gives_up_after_five_attempts_and_says_so(instance, guard, scheduler_db):
    when = FIRST_TICK
    for attempt in range(1, 6):
        [close] = close_requests(tick(orchestrate_task_chain, instance, when, guard))
        assert close.run_key == f"close:{YESTERDAY}:attempt-{attempt}"
        _launch(instance, close, dg.DagsterRunStatus.SUCCESS, status_tag="pending")
        when += dt.timedelta(minutes=7)
    data = tick(orchestrate_task_chain, instance, when, guard)
    assert close_requests(data) == []
    assert [r.partition_key for r in day_requests(data)] == [DAY]  # today goes on
    scheduler_db.set(success_key(TASK_CONTRIBUTIONS_ANALYSIS, DAY), "completed", ex=86400)
    skipped = tick(orchestrate_task_chain, instance, when, guard)
    assert skipped.run_requests == []
    assert f"day close of {YESTERDAY} given up after 5 attempts that did not succeed" in skipped.skip_message
    assert (
        f"run_task_now('task_contributions_analysis', date='{YESTERDAY}', force=True)" in skipped.skip_message
    )


def test_no_day_close_before_the_first_partition(instance, guard):
    data = tick(orchestrate_task_chain, instance, paris(2026, 1, 1, 6, 0), guard)
    assert [r.partition_key for r in data.run_requests] == ["2026-01-01"]
    assert close_requests(tick(orchestrate_task_chain, instance, paris(2026, 1, 2, 6, 0), guard))


def test_the_day_close_waits_while_a_run_of_yesterday_is_on_its_way(instance, guard, scheduler_db):
    scheduler_db.set(success_key(TASK_CONTRIBUTIONS_ANALYSIS, DAY), "completed", ex=86400)
    run_id = _store_run(
        instance,
        {"dagster/partition": YESTERDAY},
        [CONTRIBUTIONS, CONTRIBUTIONS_ANALYSIS],
        dg.DagsterRunStatus.STARTED,
    )
    data = tick(orchestrate_task_chain, instance, FIRST_TICK, guard)
    assert data.run_requests == []
    assert (
        f"day close of {YESTERDAY} waits: task_contributions_analysis {YESTERDAY}: a run is already on its "
        f"way: {run_id[:8]}" in (data.skip_message)
    )


def test_the_day_close_waits_for_yesterdays_lock_then_comes_on_a_later_tick(instance, guard, scheduler_db):
    scheduler_db.set(success_key(TASK_CONTRIBUTIONS_ANALYSIS, DAY), "completed", ex=86400)
    scheduler_db.set(lock_key(TASK_CONTRIBUTIONS_ANALYSIS, YESTERDAY), "legacy-run-7", ex=300)
    waiting = tick(orchestrate_task_chain, instance, FIRST_TICK, guard)
    assert waiting.run_requests == []
    assert f"day close of {YESTERDAY} waits: lock held by legacy-run-7" in waiting.skip_message

    scheduler_db.delete(lock_key(TASK_CONTRIBUTIONS_ANALYSIS, YESTERDAY))
    later = tick(orchestrate_task_chain, instance, paris(2026, 11, 29, 9, 1), guard)
    assert [r.run_key for r in later.run_requests] == [f"close:{YESTERDAY}:attempt-1"]


def test_the_day_close_redoes_a_completed_day(instance, standin_defs, guard, scheduler_db):
    """The close run is forced: the guard ignores yesterday's success key and the day is worked again."""
    scheduler_db.set(success_key(TASK_CONTRIBUTIONS_ANALYSIS, YESTERDAY), "completed", ex=86400)
    [close] = close_requests(tick(orchestrate_task_chain, instance, FIRST_TICK, guard))
    job = standin_defs.get_repository_def().get_job(orchestrate_task_chain.job_name)
    result = job.execute_in_process(instance=instance, partition_key=close.partition_key, tags=close.tags)
    assert result.success
    [materialized] = result.asset_materializations_for_node("contributions_analysis")
    assert materialized.partition == YESTERDAY and materialized.metadata["status"].value == "success"
    assert scheduler_db.get(success_key(TASK_CONTRIBUTIONS_ANALYSIS, YESTERDAY)) == "completed"
    assert scheduler_db.get(lock_key(TASK_CONTRIBUTIONS_ANALYSIS, YESTERDAY)) is None


# -- the requested run really runs, then the next tick skips ----------------------------------


def test_the_requested_run_executes_and_the_next_tick_skips(
    instance, standin_defs, guard, scheduler_db, closed_yesterday
):
    data = tick(orchestrate_task_chain, instance, NOON, guard)
    [request] = data.run_requests
    job = standin_defs.get_repository_def().get_job(orchestrate_task_chain.job_name)
    result = job.execute_in_process(
        instance=instance,
        partition_key=request.partition_key,
        tags=request.tags,
    )
    assert result.success
    assert scheduler_db.get(success_key(TASK_CONTRIBUTIONS_ANALYSIS, DAY)) == "completed"
    assert scheduler_db.get(lock_key(TASK_CONTRIBUTIONS_ANALYSIS, DAY)) is None
    materialized = instance.get_latest_materialization_event(CONTRIBUTIONS_ANALYSIS)
    assert materialized.asset_materialization.partition == DAY

    later = tick(orchestrate_task_chain, instance, paris(2026, 11, 29, 12, 11), guard)
    assert later.run_requests == []
    assert "already completed" in later.skip_message


def test_the_real_code_location_loads_with_these_schedules_and_sensors():
    from ocapistaine_pipelines.definitions import defs

    repository = defs.get_repository_def()
    assert {s.name for s in repository.schedule_defs} == {
        "orchestrate_task_chain",
        TASK_FIRECRAWL,
        TASK_OPIK_EXPERIMENT,
    }
    assert {s.name for s in repository.sensor_defs} == {
        "alert_on_run_failure",
        "deadline_alerts",
        "check_range_days",
    }
