"""Run a task asset under the guard, one day at a time, and report it the Dagster way.

A run may cover one partition or a range (a single-run backfill): each day is claimed, worked and
completed on its own. A skipped day is reported as an ``AssetObservation`` (so the stored value stays
as it was) carrying the legacy result fields; task assets therefore use ``output_required=False``.
A done day of a one-day run is the step's ``MaterializeResult``, so the asset's checks run in the
same run; in a range run each done day is an ``AssetMaterialization`` of its own partition (a
single output would mark the skipped days too): the step's checks are skipped, and the sensor
``orchestration.range_checks.check_range_days`` then checks each such day in a run of its own.

Retries and re-executions: the runs this one re-executes are looked up in the instance, so that only
a provably gone holder loses its lock, and a day completed by this run (or the failed attempt it
retries) is not done again, recurring and forced runs included; if Dagster has no materialization
of it yet (the completion's reply was lost), it is reported now.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import dagster as dg

from ..redis_connection import RedisUnavailable
from ..tasks import task as declared_task
from .contract import FORCE_TAG, REASON_TAG, STATUS_TAG, SkipReason, TaskError, TaskStatus
from .resource import GuardedDay, Predecessor, TaskGuard

DayWork = Callable[[GuardedDay, str], Mapping[str, Any] | None]
GuardEvent = dg.MaterializeResult | dg.AssetMaterialization | dg.AssetObservation


def is_forced(context: dg.AssetExecutionContext) -> bool:
    return str(context.run.tags.get(FORCE_TAG, "")).lower() in ("true", "1", "yes")


def run_guarded_days(
    context: dg.AssetExecutionContext,
    guard: TaskGuard,
    task_name: str,
    work: DayWork,
    *,
    skip_success_check: bool | None = None,
) -> Iterator[GuardEvent]:
    """Claim, work and complete each partition of the run; yield one event per day.

    ``work(guarded, partition_key)`` returns the day's metadata. ``skip_success_check`` defaults to the
    task's declaration (``recurring``, in tasks.py). Redis being unreachable fails the whole
    run at once (fail closed); any other failure of a day fails the run after the other days ran.
    """
    force = is_forced(context)
    if skip_success_check is None:
        skip_success_check = declared_task(task_name).recurring
    predecessors = _predecessors(context)
    server_warnings = guard.server_warnings()
    for warning in server_warnings:
        context.log.warning(warning)

    failures: list[tuple[str, BaseException, GuardedDay]] = []
    outcomes: list[GuardedDay] = []
    single_day = len(context.partition_keys) == 1
    for partition_key in context.partition_keys:
        guarded = guard.day(
            task_name,
            partition_key,
            context.run_id,
            skip_success_check=skip_success_check,
            force=force,
            predecessors=predecessors,
        )
        for warning in server_warnings:
            guarded.warn(warning)
        metadata: Mapping[str, Any] = {}
        try:
            with guarded:
                if guarded.acquired:
                    context.log.info(
                        f"{task_name} {guarded.day_key}: acquired {guarded.lock_key} as {guarded.task_id}"
                    )
                    metadata = work(guarded, partition_key) or {}
        except RedisUnavailable:
            raise
        except Exception as error:  # noqa: BLE001 - reported per day, then the run fails
            context.log.error(f"{task_name} {guarded.day_key} failed: {guard.redis.redact(str(error))}")
            failures.append((partition_key, error, guarded))
            continue
        if guarded.completed_by is not None:
            _own_completion(context, guarded, partition_key)
        outcomes.append(guarded)
        yield _day_event(context, guarded, partition_key, metadata, as_output=single_day)

    _tag_run(context, outcomes, failures)
    if failures:
        raise _failure(task_name, failures, guard)


def _predecessors(context: dg.AssetExecutionContext) -> dict[str, Predecessor]:
    """The parent and root runs, by what the instance says of them. A STARTED run may be re-executed
    (Python API, GraphQL, with or without the parent's tags): it counts as alive until it misses its
    renewals. A run the instance does not know counts as alive too."""
    kinds: dict[str, Predecessor] = {}
    for run_id in (context.run.parent_run_id, context.run.root_run_id):
        if not run_id or run_id == context.run_id or run_id in kinds:
            continue
        try:
            run = context.instance.get_run_by_id(run_id)
        except Exception:  # noqa: BLE001 - unknown is treated as alive, the safe side
            run = None
        status = run.status if run is not None else None
        if status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
            kinds[run_id] = Predecessor.FAILED
        elif status == dg.DagsterRunStatus.SUCCESS:
            kinds[run_id] = Predecessor.SUCCEEDED
        else:
            kinds[run_id] = Predecessor.MAYBE_RUNNING
    return kinds


def _own_completion(context: dg.AssetExecutionContext, guarded: GuardedDay, partition_key: str) -> None:
    """The day was completed by this run or the attempt it retries: skip it if Dagster recorded it,
    else report it now (its completion's reply was lost), without doing the work again."""
    if _materialized_by(context, partition_key, guarded.completed_by):
        guarded.result.status = TaskStatus.SKIPPED.value
        guarded.result.reason = SkipReason.ALREADY_COMPLETED.value
        return
    by = guarded.completed_by
    who = "this run" if by == context.run_id else f"run {by} (the attempt retried)"
    guarded.warn(
        f"{guarded.day_key} was completed by {who} but never recorded (the reply was lost): "
        "recorded now, not redone"
    )


def _materialized_by(context: dg.AssetExecutionContext, partition_key: str, run_id: str) -> bool:
    """Does Dagster hold a materialization of this day from ``run_id``?"""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=context.asset_key, asset_partitions=[partition_key]), limit=20
    ).records
    return any(record.run_id == run_id for record in records)


def _day_event(
    context: dg.AssetExecutionContext,
    guarded: GuardedDay,
    partition_key: str,
    metadata: Mapping[str, Any],
    *,
    as_output: bool,
) -> GuardEvent:
    result = guarded.result
    full_metadata = {**metadata, **result.to_metadata()}
    if result.status == TaskStatus.SKIPPED.value:
        holder = f" (lock held by {guarded.holder})" if guarded.holder else ""
        context.log.info(f"{guarded.task} {guarded.day_key} skipped: {result.reason}{holder}")
        return dg.AssetObservation(
            asset_key=context.asset_key, partition=partition_key, metadata=full_metadata
        )
    reason = f" ({result.reason})" if result.reason else ""
    context.log.info(f"{guarded.task} {guarded.day_key}: {result.status}{reason}")
    if as_output:
        return dg.MaterializeResult(metadata=full_metadata)
    return dg.AssetMaterialization(
        asset_key=context.asset_key, partition=partition_key, metadata=full_metadata
    )


def _tag_run(context: dg.AssetExecutionContext, outcomes: list[GuardedDay], failures: list) -> None:
    """Tag the run with the day's status so skipped runs stand out in the runs list."""
    statuses = {guarded.result.status for guarded in outcomes}
    statuses |= {TaskStatus.FAILED.value} if failures else set()
    if len(statuses) != 1:
        status, reason = "mixed", ""
    else:
        status = statuses.pop()
        reasons = {guarded.result.reason or "" for guarded in outcomes}
        reason = reasons.pop() if len(reasons) == 1 else ""
    tags = {STATUS_TAG: status}
    if reason:
        tags[REASON_TAG] = reason
    try:
        context.instance.add_run_tags(context.run_id, tags)
    except Exception:  # noqa: BLE001 - tags are a convenience; never fail a run for them
        context.log.debug("could not tag the run")


def _failure(
    task_name: str, failures: list[tuple[str, BaseException, GuardedDay]], guard: TaskGuard
) -> dg.Failure:
    """One failure for the run; retried by the asset's RetryPolicy unless a day's error says it is final."""
    allow_retries = all(getattr(error, "retryable", True) for _, error, _ in failures)
    if len(failures) == 1:
        partition_key, error, guarded = failures[0]
        if isinstance(error, TaskError):  # both legacy fields travel: status and message
            extra = {**error.metadata, "task_error_status": error.status}
            message = f"[{error.status}] {error.message}"
        else:
            extra, message = {}, f"{type(error).__name__}: {error}"
        return dg.Failure(
            description=guard.redis.redact(f"{task_name} {guarded.day_key}: {message}"),
            metadata={**extra, **guarded.result.to_metadata()},
            allow_retries=allow_retries,
        )
    lines = [f"{guarded.day_key}: {guard.redis.redact(str(error))}" for _, error, guarded in failures]
    first = failures[0][2].result
    return dg.Failure(
        description=f"{task_name}: {len(failures)} day(s) failed\n" + "\n".join(lines),
        metadata={
            **first.to_metadata(),  # the legacy keys, for the first failed day
            "errors": dg.MetadataValue.json(lines),
            "failed_days": dg.MetadataValue.json([guarded.result.to_dict() for _, _, guarded in failures]),
        },
        allow_retries=allow_retries,
    )
