"""The legacy APScheduler jobs as Dagster schedules, in Europe/Paris, ON by default: one schedule a
declared task (``tasks.py``), launching the task's job.

The day a tick works on comes from the tick's scheduled time read in Europe/Paris (never a worker's
clock), so a tick at 23:56 or on a daylight-saving day lands on the right partition. The chain reads
the same Redis success keys as the legacy scheduler to decide what to request; the guard inside
each run stays the authority, these checks only avoid launching runs that would skip.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Iterator

import dagster as dg

from ..guard import TaskGuard
from ..guard.contract import (
    FORCE_TAG,
    STATUS_TAG,
    TASK_CONTRIBUTIONS_ANALYSIS,
    TASK_FIRECRAWL,
    TASK_OPIK_EXPERIMENT,
    TaskStatus,
    lock_key,
)
from ..partitions import FIRST_DAY, TIMEZONE, partition_key_for
from ..redis_connection import RedisUnavailable
from ..tasks import CHAIN_CRON, TASKS, DailyTask, task  # noqa: F401 - CHAIN_CRON: for readers of this module
from .chain import (
    DAY_CLOSE_TAG,
    FINISHED_STATUSES,
    IN_FLIGHT_STATUSES,
    PARTITION_TAG,
    TASK_TAG,
    run_days,
    runs_of_task,
    task_run_tags,
)
from .deadlines import record_chain_tick
from .jobs import task_job

#: A day close that has not succeeded after this many runs is left to an operator (the skip reason says so).
DAY_CLOSE_MAX_ATTEMPTS = 5

Evaluation = Iterator[dg.RunRequest | dg.SkipReason]


def tick_partition_key(context: dg.ScheduleEvaluationContext) -> str:
    """Today's partition for this tick: its scheduled time read in Europe/Paris."""
    if context.scheduled_execution_time is None:
        raise dg.DagsterInvariantViolationError("a schedule tick without a scheduled time")
    return partition_key_for(context.scheduled_execution_time)


def dead_runs(
    context: dg.ScheduleEvaluationContext,
    guard: TaskGuard | None,
    chain_task: DailyTask,
    runs: list[dg.DagsterRun],
) -> dict[str, str]:
    """STARTED runs whose worker is gone, by run id (with why): started longer ago than the lock TTL
    and holding none of their days' locks (``lock:{task}:{day}`` missing or held by another id).

    The local run launcher cannot check a worker's health, so a worker killed by the OOM killer stays
    STARTED until its max runtime. A live run renews its lock every third of the TTL. When Redis
    cannot be read, nothing is declared dead (the run still counts as on its way).
    """
    if guard is None:
        return {}
    now = time.time()
    stale: list[tuple[dg.DagsterRun, float]] = []
    for run in runs:
        if run.status != dg.DagsterRunStatus.STARTED:
            continue
        record = context.instance.get_run_record_by_id(run.run_id)
        if record is not None and record.start_time and now - record.start_time > guard.lock_ttl_seconds:
            stale.append((run, record.start_time))
    if not stale:
        return {}
    dead: dict[str, str] = {}
    try:
        client = guard.redis.scheduler_client()
        for run, started in stale:
            keys = [lock_key(chain_task.name, partition_key) for partition_key in run_days(run)]
            holders = client.mget(keys) if keys else []
            if run.run_id not in holders:
                since = int((now - started) // 60)
                dead[run.run_id] = f"STARTED {since} min ago and holds no lock of {chain_task.name}"
    except Exception as error:  # noqa: BLE001 - cannot tell: the run stays on its way
        context.log.warning(
            f"{chain_task.name}: could not read the locks of stale runs, counting them as on their way: "
            f"{guard.redis.redact(f'{type(error).__name__}: {error}')}"
        )
        return {}
    return dead


def _in_flight_reason(
    context: dg.ScheduleEvaluationContext,
    chain_task: DailyTask,
    partition_key: str,
    guard: TaskGuard | None,
) -> str | None:
    runs = runs_of_task(context.instance, chain_task, partition_key, IN_FLIGHT_STATUSES)
    dead = dead_runs(context, guard, chain_task, runs)
    for run_id, why in dead.items():
        context.log.warning(
            f"{chain_task.name} {partition_key}: run {run_id} looks dead ({why}): not counted as on its way; "
            "run monitoring fails it at its max runtime"
        )
    runs = [run for run in runs if run.run_id not in dead]
    if not runs:
        return None
    listed = ", ".join(f"{run.run_id[:8]} ({run.status.value.lower()})" for run in runs[:3])
    return f"{chain_task.name} {partition_key}: a run is already on its way: {listed}"


def _run_request(
    context: dg.ScheduleEvaluationContext, chain_task: DailyTask, partition_key: str
) -> dg.RunRequest:
    """One run of the task's job for the day.

    The run key names the attempt (runs already finished for the task and day): a tick re-evaluated
    by the daemon asks for the same key and Dagster drops the duplicate, while a day whose run failed
    (or skipped, or deferred) gets a new attempt on the next tick, as the legacy chain retried every 7
    minutes.
    """
    finished = context.instance.get_runs_count(
        dg.RunsFilter(
            tags={TASK_TAG: chain_task.name, PARTITION_TAG: partition_key}, statuses=list(FINISHED_STATUSES)
        )
    )
    return dg.RunRequest(
        run_key=f"{chain_task.name}:{partition_key}:attempt-{finished + 1}",
        partition_key=partition_key,
        tags=task_run_tags(chain_task, partition_key),
    )


def previous_day(partition_key: str) -> str:
    return (dt.date.fromisoformat(partition_key) - dt.timedelta(days=1)).isoformat()


def _day_close_due(
    context: dg.ScheduleEvaluationContext, closing: DailyTask, partition_key: str
) -> tuple[str | None, int, str | None]:
    """``(yesterday, attempt)`` while yesterday's day close has not succeeded, else ``(None, 0, why not)``.

    Done means a close run ended with the guard's tag ``ocapistaine/status=success``: a close that
    failed, was skipped (lock held) or deferred (``pending``: the LLM still down) is asked again on
    later ticks, at most ``DAY_CLOSE_MAX_ATTEMPTS`` times.
    """
    closed = previous_day(partition_key)
    if closed < FIRST_DAY:
        return None, 0, None
    instance = context.instance
    finished = list(FINISHED_STATUSES)
    close_tags = {DAY_CLOSE_TAG: closed, TASK_TAG: closing.name}
    if instance.get_runs_count(
        dg.RunsFilter(tags={**close_tags, STATUS_TAG: TaskStatus.SUCCESS.value}, statuses=finished)
    ):
        return None, 0, None
    attempts = instance.get_runs_count(dg.RunsFilter(tags=close_tags, statuses=finished))
    if attempts >= DAY_CLOSE_MAX_ATTEMPTS:
        return (
            None,
            attempts,
            (
                f"day close of {closed} given up after {attempts} attempts that did not succeed: re-do it "
                f"with run_task_now({closing.name!r}, date={closed!r}, force=True)"
            ),
        )
    return closed, attempts + 1, None


def _day_close(
    context: dg.ScheduleEvaluationContext, guard: TaskGuard, closing: DailyTask, closed: str, attempt: int
) -> tuple[dg.RunRequest | None, str | None]:
    """The forced run of yesterday's contributions ("day close"), or why it waits for a later tick.

    A contribution belongs to the day of its ``created_at``; the chain stops once the day succeeded,
    so what arrived after that (until midnight) is only read by this run. Forced: it ignores the
    success key (the guard still takes the lock), and the verdict cache makes items already judged free.
    Run key ``close:{day}:attempt-{n}`` (n - 1 close runs of that day finished without success); while
    a run of yesterday is queued, running or holds its lock, the next tick asks again.
    """
    busy = _in_flight_reason(context, closing, closed, guard)
    if busy:
        return None, f"day close of {closed} waits: {busy}"
    row = next(row for row in guard.history(closed) if row["task"] == closing.name)
    if row["running"]:
        return None, f"day close of {closed} waits: lock held by {row['lock_holder']}"
    request = dg.RunRequest(
        run_key=f"close:{closed}:attempt-{attempt}",
        partition_key=closed,
        tags={**task_run_tags(closing, closed), FORCE_TAG: "true", DAY_CLOSE_TAG: closed},
    )
    return request, None


def _record_chain_tick(
    context: dg.ScheduleEvaluationContext, partition_key: str, redis_error: str | None
) -> int:
    """Keep the streak of ticks that could not read Redis (``deadlines.deadline_alerts`` alerts on it).
    The Dagster instance stores it; a failure to store is logged, never fails the tick."""
    if context.scheduled_execution_time is None:
        return 0
    try:
        streak = record_chain_tick(
            context.instance, context.scheduled_execution_time, partition_key, redis_error
        )
        return int(streak["count"])
    except Exception as error:  # noqa: BLE001 - the streak is for alerting; the tick goes on
        context.log.warning(f"could not record the chain's Redis streak in the Dagster instance: {error}")
        return 0


def evaluate_chain(
    context: dg.ScheduleEvaluationContext,
    guard: TaskGuard,
    partition_key: str,
    chain_task: DailyTask | None = None,
) -> Evaluation:
    """The chain task gets a run when its success key is missing and its dependencies' keys exist;
    at the first tick of a day, when it closes its days, yesterday's day close too."""
    chain_task = chain_task or task(TASK_CONTRIBUTIONS_ANALYSIS)
    close_request: dg.RunRequest | None = None
    close_reason: str | None = None
    try:
        history = {row["task"]: row for row in guard.history(partition_key)}
        if chain_task.closes_day:
            closed, attempt, close_reason = _day_close_due(context, chain_task, partition_key)
            if closed is not None:
                close_request, close_reason = _day_close(context, guard, chain_task, closed, attempt)
    except Exception as error:  # noqa: BLE001 - a tick never crashes; the reason says what happened
        if isinstance(error, RedisUnavailable):
            cause = error.description or "Redis unavailable"
        else:
            cause = guard.redis.redact(f"{type(error).__name__}: {error}")
        streak = _record_chain_tick(context, partition_key, cause)
        ticks = f" ({streak} tick(s) in a row)" if streak > 1 else ""
        yield dg.SkipReason(f"cannot read the task markers, nothing requested{ticks}: {cause}")
        return
    _record_chain_tick(context, partition_key, None)

    requests: list[dg.RunRequest] = []
    reasons: list[str] = []
    row = history[chain_task.name]
    waiting = [dep for dep in chain_task.depends_on if not history[dep]["completed"]]
    if row["completed"]:
        reasons.append(f"{chain_task.name} {row['date']}: already completed (success key set)")
    elif waiting:
        reasons.append(f"{chain_task.name} {row['date']}: waiting for {', '.join(waiting)} to succeed first")
    elif row["running"]:
        reasons.append(f"{chain_task.name} {row['date']}: lock held by {row['lock_holder']}")
    else:
        busy = _in_flight_reason(context, chain_task, partition_key, guard)
        if busy:
            reasons.append(busy)
        else:
            requests.append(_run_request(context, chain_task, partition_key))
    if close_request is not None:
        requests.append(close_request)
    if close_reason:
        reasons.append(close_reason)
    if requests:
        for reason in reasons:
            context.log.info(reason)
        for request in requests:
            context.log.info(
                f"requesting {request.tags[TASK_TAG]} for {request.partition_key} ({request.run_key})"
            )
            yield request
    else:
        yield dg.SkipReason("; ".join(reasons))


def _chain_schedule(chain_task: DailyTask) -> dg.ScheduleDefinition:
    after = f" once {', '.join(chain_task.depends_on)} succeeded," if chain_task.depends_on else ""
    close = (
        "; from the first tick of a day until it succeeds (5 attempts at most), a forced run of yesterday "
        "(day close: items that arrived after its success)"
        if chain_task.closes_day
        else ""
    )

    @dg.schedule(
        name=chain_task.schedule,
        cron_schedule=CHAIN_CRON,
        execution_timezone=TIMEZONE,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        target=task_job(chain_task),
        description=f"Every 7 minutes from 06:00 to 23:56 (Europe/Paris): runs {chain_task.name} for today "
        f"while its success key is missing,{after} with a new attempt after a failure{close}.",
    )
    def _schedule(context: dg.ScheduleEvaluationContext, guard: TaskGuard) -> Evaluation:
        yield from evaluate_chain(context, guard, tick_partition_key(context), chain_task)

    return _schedule


def _fixed_time_schedule(daily_task: DailyTask) -> dg.ScheduleDefinition:
    """A daily task at a fixed time: the run itself takes the lock and reports a Redis outage (and alerts).

    Redis is read only to tell a dead run from a live one (a STARTED run older than the lock TTL).
    """

    @dg.schedule(
        name=daily_task.schedule,
        cron_schedule=daily_task.cron,
        execution_timezone=TIMEZONE,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        target=task_job(daily_task),
        description=f"{daily_task.cron} (Europe/Paris): runs {daily_task.name} for today"
        + (f": {daily_task.description}." if daily_task.description else "."),
    )
    def _schedule(context: dg.ScheduleEvaluationContext, guard: TaskGuard) -> Evaluation:
        partition_key = tick_partition_key(context)
        busy = _in_flight_reason(context, daily_task, partition_key, guard)
        if busy:
            yield dg.SkipReason(busy)
            return
        yield _run_request(context, daily_task, partition_key)

    return _schedule


@functools.cache
def task_schedule(daily_task: DailyTask) -> dg.ScheduleDefinition:
    """The schedule of a declared task (one object per declaration)."""
    return _chain_schedule(daily_task) if daily_task.in_chain else _fixed_time_schedule(daily_task)


def task_schedules() -> list[dg.ScheduleDefinition]:
    """A schedule for every task declared so far."""
    return [task_schedule(declared) for declared in TASKS.values()]


orchestrate_task_chain = task_schedule(task(TASK_CONTRIBUTIONS_ANALYSIS))
task_firecrawl = task_schedule(task(TASK_FIRECRAWL))
task_opik_experiment = task_schedule(task(TASK_OPIK_EXPERIMENT))
