"""The guard under faults, against private redis-servers: no second run on a live holder's day, a lost
lock noticed before it can expire, completions recorded once, retries that do not redo finished days."""

from __future__ import annotations

import threading
import time

import dagster as dg
import pytest

from ocapistaine_pipelines import redis_scripts
from ocapistaine_pipelines.guard import (
    FORCE_TAG,
    TASK_FIRECRAWL,
    TASK_OPIK_EXPERIMENT,
    TaskError,
    TaskGuard,
)
from ocapistaine_pipelines.redis_connection import RedisResource

from .guard_helpers import (
    PROBE_REDIS_ENV,
    day_metadata,
    events,
    guarded_asset,
    materialize,
    reexecution_probe_job,
)
from .proxies import ReplyDroppingProxy

DAY = "2026-03-15"
LOCK = f"lock:{TASK_FIRECRAWL}:20260315"
SUCCESS = f"success:{TASK_FIRECRAWL}:20260315"
QUEUE_KEY = f"{TASK_FIRECRAWL}:20260315"


def resource_for(server, **options) -> RedisResource:
    return RedisResource(url=f"redis://127.0.0.1:{server.port}", **options)


def wait_until(predicate, timeout: float, step: float = 0.01) -> float | None:
    """Seconds until ``predicate()`` held, or None after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(step)
    return None


# -- two runs on one day: takeover only of a provably gone holder -----------------------------------------


def test_a_live_parents_lock_is_not_taken_over_and_a_gone_ones_is(guard, scheduler_db):
    """A maybe-running parent keeps a fresh lock; a failed, cancelled or finished one loses it at once;
    a maybe-running one that missed its renewals (TTL far down) loses it too."""
    scheduler_db.set(LOCK, "parent", px=300_000)
    live = {"parent": "maybe_running"}
    for predecessors in (("parent",), live, {"root": "failed", **live}):
        child = guard.day(TASK_FIRECRAWL, DAY, "child", predecessors=predecessors)
        assert child.claim() is False and child.result.reason == "lock_held" and child.holder == "parent"
    assert scheduler_db.get(LOCK) == "parent"

    for kind in ("failed", "succeeded"):
        scheduler_db.set(LOCK, "parent", px=300_000)
        child = guard.day(TASK_FIRECRAWL, DAY, f"child-{kind}", predecessors={"parent": kind})
        assert child.claim() is True and scheduler_db.get(LOCK) == f"child-{kind}"
        assert any("parent" in w and kind in w for w in child.result.warnings)

    # missed renewals: a live holder renews every 2 s to 300 s; declares its loss after 200 s without
    # one; 10 s later (<= 90 s of TTL left) its lock is stale
    assert guard.stale_lock_ms == 90_000
    scheduler_db.set(LOCK, "parent", px=90_000)
    child = guard.day(TASK_FIRECRAWL, DAY, "child-stale", predecessors={"parent": "maybe_running"})
    assert child.claim() is True and any("missed its renewals" in w for w in child.result.warnings)
    scheduler_db.set(LOCK, "parent", px=91_000)
    child = guard.day(TASK_FIRECRAWL, DAY, "child-fresh", predecessors={"parent": "maybe_running"})
    assert child.claim() is False


@pytest.mark.slow
@pytest.mark.parametrize("parent_fate", ["running", "marked_failed"])
def test_re_executing_a_started_run_does_not_work_its_day_twice(private_redis, monkeypatch, parent_fate):
    """A real Dagster re-execution (ReexecutionOptions: the child gets only the tags given, as with
    useParentRunTags false, so no queue tag) of a run that is still STARTED and working its day."""
    monkeypatch.setenv(PROBE_REDIS_ENV, f"redis://127.0.0.1:{private_redis.port}")
    probe = private_redis.client()
    job = dg.reconstructable(reexecution_probe_job)
    # No compute-log capture: two runs in two threads of one process would both redirect its stdout and
    # stderr (a tail process each); the loser waited a minute for its tail under pytest-xdist.
    no_capture = {
        "compute_logs": {
            "module": "dagster._core.storage.noop_compute_log_manager",
            "class": "NoOpComputeLogManager",
        }
    }
    with dg.instance_for_test(overrides=no_capture) as instance:
        parent_result: dict = {}
        parent_tags = {"dagster/partition": DAY, "ocapistaine/task_day": QUEUE_KEY}
        parent_thread = threading.Thread(
            target=lambda: parent_result.setdefault("r", dg.execute_job(job, instance, tags=parent_tags))
        )
        parent_thread.start()
        try:
            assert wait_until(lambda: probe.llen("probe:workers") == 1, 30) is not None
            parent_id = probe.lindex("probe:workers", 0)
            assert instance.get_run_by_id(parent_id).status == dg.DagsterRunStatus.STARTED
            if parent_fate == "marked_failed":  # run monitoring found its worker dead
                instance.report_run_failed(instance.get_run_by_id(parent_id))
            child = dg.execute_job(
                job,
                instance,
                tags={"dagster/partition": DAY},
                reexecution_options=dg.ReexecutionOptions(parent_run_id=parent_id),
            )
            assert child.success and child.dagster_run.parent_run_id == parent_id
            assert "ocapistaine/task_day" not in child.dagster_run.tags  # the parent's queue tag is dropped
        finally:
            probe.set("probe:release", "1")
            parent_thread.join(60)
        workers = probe.lrange("probe:workers", 0, -1)
        child_meta = day_metadata(child)[DAY]
        if parent_fate == "running":
            assert workers == [parent_id]  # the child never worked the day
            assert (child_meta["status"], child_meta["reason"]) == ("skipped", "lock_held")
            assert parent_result["r"].success
            assert private_redis.client(6).get(SUCCESS) == "completed"
        else:
            assert workers == [parent_id, child.run_id]
            assert child_meta["status"] == "success"
            assert not parent_result["r"].success  # it noticed within a heartbeat and did not mark the day


# -- a lost lock is noticed early, before it can expire ---------------------------------------------------


@pytest.mark.slow
def test_a_lock_wiped_by_a_redis_restart_is_noticed_within_seconds(private_redis):
    """Default TTL (300 s): the heartbeat notices the wiped lock and check() says so within ~2 s."""
    guard = TaskGuard(redis=resource_for(private_redis))
    with pytest.raises(TaskError, match="lost the lock"):
        with guard.day(TASK_FIRECRAWL, DAY, "holder") as day:
            assert day.acquired
            private_redis.restart()  # no persistence: every key is gone
            restarted = time.monotonic()
            noticed = wait_until(lambda: not day.keep_going(), timeout=8)
            assert noticed is not None and noticed < guard.renew_interval + 1.5
            assert day.lost_at - restarted < guard.renew_interval + 1.5
            day.check()


@pytest.mark.slow
def test_a_frozen_redis_makes_the_holder_stop_before_its_lock_can_expire(private_redis):
    ttl = 3.0
    resource = resource_for(private_redis, socket_timeout_seconds=0.3, connect_timeout_seconds=0.3)
    guard = TaskGuard(redis=resource, lock_ttl_seconds=ttl, renew_every_seconds=0.5)
    server = private_redis.client(6)
    with guard.day(TASK_FIRECRAWL, DAY, "holder") as day:
        time.sleep(0.7)  # one renewal at least
        expires_at = time.monotonic() + server.pttl(LOCK) / 1000  # no renewal can land while frozen
        private_redis.pause()
        try:
            assert wait_until(lambda: day.lost, timeout=ttl + 1) is not None
            declared = time.monotonic()
            assert day.renew_failures >= 2  # retried within the freeze, not once per interval
        finally:
            private_redis.resume()
        assert declared < expires_at - 0.5, "declared lost only after the lock could expire"
        with pytest.raises(TaskError, match="ownership not confirmed"):
            day.check()
        day.defer("stopping")  # leave without completing


@pytest.mark.slow
def test_a_failed_renewal_is_retried_within_a_second(private_redis):
    """The reply of one renewal is lost: the next attempt comes within a second, not a whole interval."""
    import hashlib

    sha = hashlib.sha1(redis_scripts.RENEW.encode()).hexdigest().encode()
    private_redis.client().script_load(redis_scripts.RENEW)
    proxy = ReplyDroppingProxy(private_redis.port, marker=sha)
    try:
        resource = RedisResource(url=f"redis://127.0.0.1:{proxy.port}", socket_timeout_seconds=0.5)
        guard = TaskGuard(redis=resource, lock_ttl_seconds=60, renew_every_seconds=3)
        with guard.day(TASK_FIRECRAWL, DAY, "holder") as day:
            assert wait_until(lambda: proxy.dropped == 1, timeout=5) is not None
            failed_at = time.monotonic()
            assert wait_until(lambda: day.renewals >= 1, timeout=2.5) is not None
            assert time.monotonic() - failed_at < 1.5
            assert day.renew_failures == 1 and day.keep_going()
    finally:
        proxy.close()


# -- the server check -------------------------------------------------------------------------------------


def test_a_redis_without_persistence_is_warned_about_in_log_and_metadata(private_redis, redis_server):
    guard = TaskGuard(redis=resource_for(private_redis))
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(
        guarded_asset(TASK_FIRECRAWL, lambda d, k: None), guard, partition_key=DAY, instance=instance
    )
    assert result.success
    warnings = day_metadata(result)[DAY]["warnings"]
    assert any("no persistence" in w and "appendonly" in w for w in warnings)
    logged = [entry.user_message for entry in instance.all_logs(result.run_id) if entry.level == 30]
    assert any("no persistence" in message for message in logged)
    # save points (or appendonly yes) on: no warning
    private_redis.client().config_set("save", "3600 1")
    assert not any("persistence" in w for w in guard.server_warnings())


# -- completion under a freeze: recorded, not skipped ------------------------------------------------------


def _freezing_work(server, seconds: float, calls: list):
    def work(day, key):
        calls.append(key)
        if len(calls) == 1:  # Redis freezes right as the work returns
            server.pause()
            threading.Timer(seconds, server.resume).start()
        return {"rows": 7}

    return work


@pytest.mark.slow
def test_a_freeze_at_completion_is_waited_out_and_the_day_materialized(private_redis):
    """Retries off: the completion outlasts a freeze longer than the client's own retries."""
    resource = resource_for(private_redis, socket_timeout_seconds=0.4, connect_timeout_seconds=0.4, retries=1)
    guard = TaskGuard(redis=resource, lock_ttl_seconds=30)
    calls: list = []
    result = materialize(
        guarded_asset(TASK_FIRECRAWL, _freezing_work(private_redis, 2.5, calls)), guard, partition_key=DAY
    )
    assert result.success and calls == [DAY]
    meta = day_metadata(result)[DAY]
    assert meta["_event"] == "ASSET_MATERIALIZATION" and meta["status"] == "success" and meta["rows"] == 7
    assert private_redis.client(6).get(SUCCESS) == "completed"


@pytest.mark.slow
def test_a_completion_that_landed_unheard_is_recognised_by_the_retry(private_redis):
    """The completion gives up during the freeze; the buffered call lands; the step retry finds the day
    completed by this run and reports the materialization (with its checks) instead of a skip."""
    resource = resource_for(private_redis, socket_timeout_seconds=0.3, connect_timeout_seconds=0.3, retries=0)
    guard = TaskGuard(redis=resource, lock_ttl_seconds=30, completion_patience_seconds=0.5)
    private_redis.client().script_load(
        redis_scripts.COMPLETE
    )  # so the buffered EVALSHA runs when Redis wakes up
    calls: list = []
    asset = guarded_asset(
        TASK_FIRECRAWL,
        _freezing_work(private_redis, 2.0, calls),
        retry_policy=dg.RetryPolicy(max_retries=4, delay=1),
    )

    @dg.asset_check(asset=asset)
    def probe_check(context):
        return dg.AssetCheckResult(passed=True)

    result = dg.materialize(
        [asset, probe_check],
        instance=dg.DagsterInstance.ephemeral(),
        partition_key=DAY,
        resources={"guard": guard},
        raise_on_error=False,
    )
    assert result.success and calls == [DAY]  # the work ran once
    assert len(events(result, "STEP_RESTARTED")) >= 1
    meta = day_metadata(result)[DAY]
    assert meta["_event"] == "ASSET_MATERIALIZATION" and meta["status"] == "success"
    assert any("completed by this run but never recorded" in w for w in meta["warnings"])
    assert len(events(result, "ASSET_CHECK_EVALUATION")) == 1
    assert private_redis.client(6).get(f"completed_by:{TASK_FIRECRAWL}:20260315") == result.run_id


def test_a_run_re_executing_a_failed_attempt_records_that_attempts_completion(guard, scheduler_db):
    scheduler_db.set(SUCCESS, "completed", ex=86400)
    scheduler_db.set(f"completed_by:{TASK_FIRECRAWL}:20260315", "attempt-1", ex=86400)
    retry = guard.day(TASK_FIRECRAWL, DAY, "attempt-2", predecessors={"attempt-1": "failed"})
    assert retry.claim() is False and retry.completed_by == "attempt-1" and retry.result.status == "success"
    for kind in ("succeeded", "maybe_running"):  # its completion is its own, recorded by itself
        other = guard.day(TASK_FIRECRAWL, DAY, "attempt-3", predecessors={"attempt-1": kind})
        assert other.claim() is False and other.result.reason == "already_completed"
    stranger = guard.day(TASK_FIRECRAWL, DAY, "unrelated", skip_success_check=True)
    assert stranger.claim() is True  # a recurring task's new run still works the day


# -- retries of a range redo nothing finished --------------------------------------------------------------


@pytest.mark.parametrize("mode", ["recurring", "forced", "normal"])
def test_a_retried_range_run_skips_the_days_it_completed(guard, scheduler_db, mode):
    calls: list[str] = []

    def work(day, key):
        calls.append(key)
        if key == "2026-03-02" and calls.count(key) == 1:
            raise ConnectionResetError("the Opik server reset the connection")
        return {"experiment": f"exp-{len(calls)}"}

    task = TASK_OPIK_EXPERIMENT if mode == "recurring" else TASK_FIRECRAWL
    asset = guarded_asset(
        task,
        work,
        skip_success_check=mode == "recurring",
        retry_policy=dg.RetryPolicy(max_retries=1, delay=0),
    )
    tags = {FORCE_TAG: "true"} if mode == "forced" else {}
    result = materialize(asset, guard, partition_range=("2026-03-01", "2026-03-03"), tags=tags)
    assert result.success
    assert sorted(calls) == ["2026-03-01", "2026-03-02", "2026-03-02", "2026-03-03"]
    per_day = {}
    for event in events(result, "ASSET_MATERIALIZATION"):
        partition = event.event_specific_data.materialization.partition
        per_day[partition] = per_day.get(partition, 0) + 1
    assert per_day == {"2026-03-01": 1, "2026-03-02": 1, "2026-03-03": 1}
    for day in ("20260301", "20260302", "20260303"):
        assert scheduler_db.get(f"success:{task}:{day}") == "completed"
        assert scheduler_db.get(f"completed_by:{task}:{day}") == result.run_id
