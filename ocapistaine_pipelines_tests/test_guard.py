"""The task guard against a real redis-server: the legacy contract and the races it must not have."""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest
import redis

from ocapistaine_pipelines import redis_scripts
from ocapistaine_pipelines.guard import (
    FORCE_TAG,
    TASK_CONTRIBUTIONS_ANALYSIS,
    TASK_FIRECRAWL,
    TASK_OPIK_EXPERIMENT,
    TaskError,
    TaskGuard,
    TaskSkipped,
    day_string,
    normalize_timestamp,
)
from ocapistaine_pipelines.guard.contract import TaskResult
from ocapistaine_pipelines.redis_connection import RedisResource, redis_resource_from_env

from .guard_helpers import day_metadata, failure_of, guarded_asset, materialize
from .proxies import ReplyDroppingProxy
from .services import RedisServer, free_port

DAY = "2026-03-15"
LOCK = f"lock:{TASK_FIRECRAWL}:20260315"
SUCCESS = f"success:{TASK_FIRECRAWL}:20260315"


def short_guard(redis_resource: RedisResource, ttl: float = 0.6, **kwargs) -> TaskGuard:
    return TaskGuard(redis=redis_resource, lock_ttl_seconds=ttl, **kwargs)


# -- the contract ---------------------------------------------------------------------------------------


def test_contract_helpers():
    assert day_string("2026-03-15") == "20260315"
    assert day_string("20260315") == "20260315"
    with pytest.raises(ValueError):
        day_string("15/03/2026")
    assert normalize_timestamp(1767225600000) == 1767225600
    assert normalize_timestamp(1767225600) == 1767225600
    assert normalize_timestamp("1767225600123") == 1767225600
    error = TaskError("failed", "boom")
    assert (error.status, error.message) == ("failed", "boom")
    with pytest.raises(ValueError):
        TaskError("exploded", "not a legacy status")
    assert set(TaskResult("t", "d", "i").to_dict()) == {
        "task",
        "date",
        "task_id",
        "status",
        "errors",
        "warnings",
        "reason",
    }


def test_success_writes_the_legacy_keys(guard, scheduler_db):
    seen = {}

    def work(day, partition_key):
        seen["lock"] = scheduler_db.get(LOCK)
        seen["lock_ttl"] = scheduler_db.ttl(LOCK)
        return {"rows": 3}

    result = materialize(guarded_asset(TASK_FIRECRAWL, work), guard, partition_key=DAY)
    assert result.success
    assert seen["lock"] == result.run_id  # the task id is the Dagster run id
    assert 290 <= seen["lock_ttl"] <= 300
    assert scheduler_db.get(SUCCESS) == "completed"
    assert 86390 <= scheduler_db.ttl(SUCCESS) <= 86400
    assert scheduler_db.exists(LOCK) == 0
    meta = day_metadata(result)[DAY]
    assert meta["_event"] == "ASSET_MATERIALIZATION"
    assert meta["status"] == "success" and meta["date"] == "20260315" and meta["task_id"] == result.run_id
    assert meta["rows"] == 3 and meta["errors"] == [] and meta["warnings"] == []


def test_second_run_skips_already_completed_without_materializing(guard, scheduler_db):
    calls = []
    asset = guarded_asset(TASK_FIRECRAWL, lambda day, key: calls.append(key))
    first = materialize(asset, guard, partition_key=DAY)
    second = materialize(asset, guard, partition_key=DAY)
    assert first.success and second.success
    assert calls == [DAY]
    meta = day_metadata(second)[DAY]
    assert meta["_event"] == "ASSET_OBSERVATION"
    assert (meta["status"], meta["reason"]) == ("skipped", "already_completed")
    assert not second.asset_materializations_for_node("guarded_probe")


def test_skip_success_check_and_force_still_lock_and_mark(guard, scheduler_db):
    scheduler_db.set(SUCCESS, "completed", ex=86400)
    calls = []

    def work(day, key):
        calls.append(scheduler_db.get(LOCK))

    recurring = materialize(
        guarded_asset(TASK_FIRECRAWL, work, skip_success_check=True), guard, partition_key=DAY
    )
    forced = materialize(
        guarded_asset(TASK_FIRECRAWL, work), guard, partition_key=DAY, tags={FORCE_TAG: "true"}
    )
    assert recurring.success and forced.success
    assert calls == [recurring.run_id, forced.run_id]  # both held the lock while working
    assert scheduler_db.get(SUCCESS) == "completed" and scheduler_db.ttl(SUCCESS) > 86000


def test_a_legacy_lock_is_left_untouched(guard, scheduler_db):
    scheduler_db.set(LOCK, "apscheduler-4f1c", ex=300)
    calls = []
    result = materialize(
        guarded_asset(TASK_FIRECRAWL, lambda d, k: calls.append(k)), guard, partition_key=DAY
    )
    assert result.success and calls == []
    meta = day_metadata(result)[DAY]
    assert (meta["status"], meta["reason"]) == ("skipped", "lock_held")
    assert scheduler_db.get(LOCK) == "apscheduler-4f1c"
    assert 295 <= scheduler_db.ttl(LOCK) <= 300
    assert scheduler_db.exists(SUCCESS) == 0


# -- TTL expiry and renewal -------------------------------------------------------------------------------


def test_an_expired_run_cannot_delete_a_later_runs_lock(redis_resource, scheduler_db):
    slow = short_guard(redis_resource, ttl=0.3, renew_every_seconds=3600)  # renewal effectively off
    day = slow.day(TASK_FIRECRAWL, DAY, "run-A")
    with pytest.raises(TaskError, match="lost the lock"):
        with day:
            time.sleep(0.5)  # the TTL runs out: run B takes the day
            later = slow.day(TASK_FIRECRAWL, DAY, "run-B")
            assert later.claim()
    assert scheduler_db.get(LOCK) == "run-B"
    assert scheduler_db.exists(SUCCESS) == 0
    assert day.result.status == "failed"

    # the same on the failure path: A's release must not delete B's lock
    failing = slow.day(TASK_FIRECRAWL, DAY, "run-C")
    scheduler_db.delete(LOCK)
    with pytest.raises(RuntimeError):
        with failing:
            time.sleep(0.5)
            assert slow.day(TASK_FIRECRAWL, DAY, "run-D").claim()
            raise RuntimeError("work failed")
    assert scheduler_db.get(LOCK) == "run-D"


@pytest.mark.slow
def test_a_task_running_three_ttls_keeps_its_lock(redis_resource, scheduler_db):
    guard = short_guard(redis_resource, ttl=1.2)  # lost after 0.8 s unconfirmed: room for a busy machine
    intruders = []

    def work(day, key):
        deadline = time.monotonic() + 3.6
        while time.monotonic() < deadline:
            intruders.append(guard.day(TASK_FIRECRAWL, DAY, "intruder").claim())
            day.check()
            time.sleep(0.1)
        return {}

    result = materialize(guarded_asset(TASK_FIRECRAWL, work), guard, partition_key=DAY)
    assert result.success
    assert intruders and not any(intruders)
    assert scheduler_db.get(SUCCESS) == "completed"


def test_losing_the_lock_mid_run_fails_instead_of_marking_success(redis_resource, scheduler_db):
    guard = short_guard(redis_resource, ttl=0.6)

    def work(day, key):
        scheduler_db.set(LOCK, "operator-took-it", px=600)  # someone else owns the day now
        for _ in range(30):
            day.check()
            time.sleep(0.05)

    result = materialize(guarded_asset(TASK_FIRECRAWL, work), guard, partition_key=DAY)
    assert not result.success
    assert "lost the lock" in failure_of(result).message
    assert scheduler_db.exists(SUCCESS) == 0
    assert scheduler_db.get(LOCK) == "operator-took-it"


# -- races -----------------------------------------------------------------------------------------------


def _race_worker(port: int, task_id: str, barrier, results, sleep: float) -> None:
    guard = TaskGuard(redis=RedisResource(url=f"redis://127.0.0.1:{port}"), lock_ttl_seconds=5)
    day = guard.day(TASK_CONTRIBUTIONS_ANALYSIS, DAY, task_id)
    barrier.wait()
    with day:
        if day.acquired:
            guard.redis.scheduler_client().incr("probe:work_done")
            time.sleep(sleep)
    results.put((task_id, day.result.status, day.result.reason))


def _race(port: int, processes: int, sleep: float, prefix: str = "p") -> list[tuple]:
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    workers = [
        ctx.Process(target=_race_worker, args=(port, f"{prefix}{i}", barrier, results, sleep))
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)
    return outcomes


def test_processes_racing_for_a_day_do_the_work_once(redis_server, scheduler_db):
    scheduler_db.flushdb()
    first = _race(redis_server.port, 8, sleep=0.3)
    assert scheduler_db.get("probe:work_done") == "1"
    statuses = sorted((status, reason) for _, status, reason in first)
    assert statuses.count(("success", None)) == 1
    assert all(
        reason in ("lock_held", "already_completed") for status, reason in statuses if status == "skipped"
    )

    # once the day is complete, no race can start it again
    second = _race(
        redis_server.port, 8, sleep=0, prefix="q"
    )  # new runs (a run's own retry would recognise it)
    assert scheduler_db.get("probe:work_done") == "1"
    assert {(status, reason) for _, status, reason in second} == {("skipped", "already_completed")}


def test_claim_and_complete_interleaved_never_reruns_a_finished_day(guard, scheduler_db):
    """Claims hammered from threads while one run completes: after success, each says already_completed."""
    stop = threading.Event()
    after_success = []

    def claimer(n):
        while not stop.is_set():
            done_before = scheduler_db.exists(SUCCESS)
            day = guard.day(TASK_FIRECRAWL, DAY, f"t{n}")
            got = day.claim()
            if got:
                day._release()
            if done_before:
                after_success.append(got)

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(4)]
    winner = None
    for thread in threads:
        thread.start()
    try:
        while winner is None:
            day = guard.day(TASK_FIRECRAWL, DAY, "winner")
            if day.claim():
                day._complete()
                winner = day
    finally:
        time.sleep(0.2)
        stop.set()
        for thread in threads:
            thread.join()
    assert after_success and not any(after_success)


def test_a_lost_reply_to_the_claim_resolves_to_acquired_by_me(redis_server, scheduler_db):
    redis_server.client().script_load(redis_scripts.CLAIM)  # so the first EVALSHA runs the script
    proxy = ReplyDroppingProxy(redis_server.port, marker=b"EVALSHA")
    try:
        guard = TaskGuard(redis=RedisResource(url=f"redis://127.0.0.1:{proxy.port}"))
        day = guard.day(TASK_FIRECRAWL, DAY, "run-lost-reply")
        assert day.claim() is True
        assert proxy.dropped == 1
        assert proxy.dropped_replies[0].startswith(b"*2")  # the executed claim's answer was lost
        assert scheduler_db.get(LOCK) == "run-lost-reply"
    finally:
        proxy.close()


def test_the_legacy_set_nx_turns_a_lost_reply_into_a_false_lock_held(redis_server, scheduler_db):
    """Why the guard does not use a plain SET NX: the retried command finds its own lock and says 'held'."""
    proxy = ReplyDroppingProxy(redis_server.port, marker=b"\r\nNX\r\n")
    try:
        client = RedisResource(url=f"redis://127.0.0.1:{proxy.port}").scheduler_client()
        assert client.set(LOCK, "run-legacy", nx=True, ex=300) is None  # looks like lock_held
        assert scheduler_db.get(LOCK) == "run-legacy"  # but the lock is ours, orphaned
    finally:
        proxy.close()


# -- Redis down, secrets, server settings -------------------------------------------------------------------


def test_redis_down_fails_closed_quickly_without_the_password():
    port = free_port()  # nothing listens there
    resource = RedisResource(url=f"redis://:s3cr3t-pw@127.0.0.1:{port}")
    calls = []
    started = time.monotonic()
    result = materialize(
        guarded_asset(TASK_FIRECRAWL, lambda d, k: calls.append(k)),
        TaskGuard(redis=resource),
        partition_key=DAY,
    )
    elapsed = time.monotonic() - started
    assert not result.success and calls == []
    message = failure_of(result).message
    assert f"127.0.0.1:{port} db 6" in message
    assert "s3cr3t-pw" not in message
    assert "s3cr3t-pw" not in repr([str(event) for event in result.all_events])
    assert elapsed < 15


@pytest.mark.slow
def test_a_frozen_redis_fails_closed_within_15_seconds(redis_resource):
    server = RedisServer()
    try:
        server.pause()  # accepts TCP connections, never answers
        guard = TaskGuard(redis=RedisResource(url=server.url))
        calls = []
        started = time.monotonic()
        result = materialize(
            guarded_asset(TASK_FIRECRAWL, lambda d, k: calls.append(k)), guard, partition_key=DAY
        )
        assert time.monotonic() - started < 15
        assert not result.success and calls == []
        assert "Redis unreachable" in failure_of(result).message
    finally:
        server.stop()


def test_wrong_password_is_reported_without_it():
    server = RedisServer(password="right-pw")
    try:
        guard = TaskGuard(redis=RedisResource(url=f"redis://:wrong-pw@127.0.0.1:{server.port}"))
        result = materialize(guarded_asset(TASK_FIRECRAWL, lambda d, k: None), guard, partition_key=DAY)
        assert not result.success
        text = repr([str(event) for event in result.all_events])
        assert "wrong-pw" not in text and "right-pw" not in text
    finally:
        server.stop()


def test_eviction_policy_is_warned_about(guard, redis_server):
    admin = redis_server.client()
    admin.config_set("maxmemory-policy", "allkeys-lru")
    try:
        result = materialize(guarded_asset(TASK_FIRECRAWL, lambda d, k: None), guard, partition_key=DAY)
    finally:
        admin.config_set("maxmemory-policy", "noeviction")
    assert result.success
    warnings = day_metadata(result)[DAY]["warnings"]
    assert any("allkeys-lru" in warning and "noeviction" in warning for warning in warnings)


# -- outcomes chosen by the work ---------------------------------------------------------------------------


def test_task_error_fails_the_run_with_its_status_and_metadata_and_releases(guard, scheduler_db):
    def work(day, key):
        raise TaskError("failed", "source mairie_arretes answered 500", metadata={"failed_sources": 1})

    result = materialize(guarded_asset(TASK_FIRECRAWL, work), guard, partition_key=DAY)
    assert not result.success
    error = failure_of(result)
    assert "source mairie_arretes answered 500" in error.message
    assert scheduler_db.exists(LOCK) == 0 and scheduler_db.exists(SUCCESS) == 0
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    user_failure = failure.event_specific_data.user_failure_data
    meta = {key: getattr(value, "value", value) for key, value in user_failure.metadata.items()}
    assert meta["failed_sources"] == 1 and meta["status"] == "failed"
    assert meta["errors"] == ["source mairie_arretes answered 500"]


def test_skip_and_defer_release_the_lock_without_success(guard, scheduler_db):
    def skip(day, key):
        raise TaskSkipped("firecrawl_not_configured", "set FIRECRAWL_API_KEY or FIRECRAWL_API_URL")

    skipped = materialize(guarded_asset(TASK_FIRECRAWL, skip), guard, partition_key=DAY)
    assert skipped.success
    meta = day_metadata(skipped)[DAY]
    assert (meta["_event"], meta["status"], meta["reason"]) == (
        "ASSET_OBSERVATION",
        "skipped",
        "firecrawl_not_configured",
    )
    assert scheduler_db.exists(LOCK) == 0 and scheduler_db.exists(SUCCESS) == 0

    def defer(day, key):
        day.defer("pending_contributions")
        return {"pending": 2}

    deferred = materialize(guarded_asset(TASK_FIRECRAWL, defer), guard, partition_key=DAY)
    assert deferred.success
    meta = day_metadata(deferred)[DAY]
    assert (meta["status"], meta["reason"], meta["pending"]) == ("pending", "pending_contributions", 2)
    assert scheduler_db.exists(LOCK) == 0 and scheduler_db.exists(SUCCESS) == 0


def test_a_range_run_guards_each_day_on_its_own(guard, scheduler_db):
    scheduler_db.set(f"success:{TASK_OPIK_EXPERIMENT}:20260302", "completed", ex=86400)
    done = []

    def work(day, key):
        if key == "2026-03-03":
            raise ValueError("bad day")
        done.append(key)

    result = materialize(
        guarded_asset(TASK_OPIK_EXPERIMENT, work), guard, partition_range=("2026-03-01", "2026-03-04")
    )
    assert not result.success
    assert done == ["2026-03-01", "2026-03-04"]
    meta = day_metadata(result)
    assert meta["2026-03-02"]["reason"] == "already_completed"
    assert {key for key, value in meta.items() if value["status"] == "success"} == {
        "2026-03-01",
        "2026-03-04",
    }
    assert "2026-03-03" not in meta
    assert "20260303" in failure_of(result).message
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    failed_meta = {
        k: getattr(v, "value", v) for k, v in failure.event_specific_data.user_failure_data.metadata.items()
    }
    assert (failed_meta["status"], failed_meta["date"], failed_meta["task_id"]) == (
        "failed",
        "20260303",
        result.run_id,
    )
    assert {"reason", "warnings", "errors"} <= set(failed_meta)
    for day, marked in (("20260301", True), ("20260303", False), ("20260304", True)):
        assert bool(scheduler_db.exists(f"success:{TASK_OPIK_EXPERIMENT}:{day}")) is marked


def test_unknown_task_name_is_refused(guard):
    with pytest.raises(ValueError, match="unknown task"):
        guard.day("task_nope", DAY, "x")


# -- configuration ----------------------------------------------------------------------------------------


def test_configuration_from_the_environment():
    legacy = redis_resource_from_env(
        {"REDIS_HOST": "cache", "REDIS_PORT": "6380", "REDIS_PASSWORD": "pw", "REDIS_DB": "3"}
    )
    assert (legacy.host, legacy.port, legacy.password, legacy.app_db, legacy.scheduler_db) == (
        "cache",
        6380,
        "pw",
        3,
        6,
    )
    assert legacy.location(6) == "cache:6380 db 6"
    url = redis_resource_from_env(
        {"REDIS_URL": "rediss://:pw@redis.example:6390/5", "REDIS_DB_SCHEDULER": "7"}
    )
    assert url.location(url.scheduler_db) == "redis.example:6390 db 7 (TLS)"
    assert "pw" not in url.redact("connecting to rediss://:pw@redis.example:6390/5")
    assert redis_resource_from_env({}).url == "redis://localhost:6379"


def test_the_url_db_is_overridden_by_the_configured_dbs(redis_server):
    resource = RedisResource(url=f"redis://127.0.0.1:{redis_server.port}/2", scheduler_db=6, app_db=5)
    resource.scheduler_client().set("probe", "scheduler")
    resource.app_client().set("probe", "app")
    assert redis_server.client(6).get("probe") == "scheduler"
    assert redis_server.client(5).get("probe") == "app"
    assert redis_server.client(2).get("probe") is None


def test_history_reports_completed_running_and_ttls(guard, scheduler_db):
    scheduler_db.set(f"success:{TASK_FIRECRAWL}:20260315", "completed", ex=1000)
    scheduler_db.set(f"lock:{TASK_OPIK_EXPERIMENT}:20260315", "run-42", ex=200)
    rows = {row["task"]: row for row in guard.history(DAY)}
    assert rows[TASK_FIRECRAWL]["completed"] and not rows[TASK_FIRECRAWL]["running"]
    assert 990 <= rows[TASK_FIRECRAWL]["success_ttl"] <= 1000
    assert rows[TASK_OPIK_EXPERIMENT]["running"] and rows[TASK_OPIK_EXPERIMENT]["lock_holder"] == "run-42"
    assert (
        not rows[TASK_CONTRIBUTIONS_ANALYSIS]["completed"]
        and rows[TASK_CONTRIBUTIONS_ANALYSIS]["lock_ttl"] is None
    )


def test_redis_errors_other_than_connection_are_not_swallowed(guard, scheduler_db):
    scheduler_db.set(SUCCESS, "completed")
    scheduler_db.rpush(LOCK, "not-a-string")  # WRONGTYPE for GET inside the script
    with pytest.raises(redis.ResponseError):
        guard.day(TASK_FIRECRAWL, DAY, "x", force=True).claim()


def test_checks_run_with_a_one_day_run_and_not_on_a_skipped_day(guard):
    import dagster as dg

    asset = guarded_asset(TASK_FIRECRAWL, lambda day, key: {"rows": 1})

    @dg.asset_check(asset=asset)
    def rows_present(context):
        return dg.AssetCheckResult(passed=True)

    def run():
        return dg.materialize(
            [asset, rows_present],
            instance=dg.DagsterInstance.ephemeral(),
            partition_key=DAY,
            resources={"guard": guard},
            raise_on_error=False,
        )

    done, skipped = run(), run()
    assert [e.event_type_value for e in done.all_events].count("ASSET_CHECK_EVALUATION") == 1
    assert [e.event_type_value for e in skipped.all_events].count("ASSET_CHECK_EVALUATION") == 0
    assert skipped.success


def test_an_expired_run_does_not_claim_a_day_another_run_completed(redis_resource, scheduler_db):
    slow = short_guard(redis_resource, ttl=0.3, renew_every_seconds=3600)
    late = slow.day(TASK_FIRECRAWL, DAY, "run-A")
    with pytest.raises(TaskError, match="lost the lock"):
        with late:
            time.sleep(0.5)
            other = slow.day(TASK_FIRECRAWL, DAY, "run-B")
            assert other.claim()
            other._complete()
    assert late.result.status == "failed"
    assert scheduler_db.get(SUCCESS) == "completed"  # B's mark stands


def test_a_recurring_run_whose_lock_expired_is_not_marked_successful(redis_resource, scheduler_db):
    scheduler_db.set(SUCCESS, "completed", ex=86400)  # this morning's run
    slow = short_guard(redis_resource, ttl=0.3, renew_every_seconds=3600)
    day = slow.day(TASK_FIRECRAWL, DAY, "run-recurring", skip_success_check=True)
    with pytest.raises(TaskError, match="lost the lock"):
        with day:
            time.sleep(0.5)  # nobody else took it, but the work ran unprotected
    assert day.result.status == "failed"


def test_a_lost_reply_to_the_completion_still_completes(redis_server, scheduler_db):
    import hashlib

    sha = hashlib.sha1(redis_scripts.COMPLETE.encode()).hexdigest().encode()
    redis_server.client().script_load(redis_scripts.COMPLETE)
    proxy = ReplyDroppingProxy(redis_server.port, marker=sha)
    try:
        guard = TaskGuard(redis=RedisResource(url=f"redis://127.0.0.1:{proxy.port}"))
        with guard.day(TASK_FIRECRAWL, DAY, "run-complete") as day:
            assert day.acquired
        assert proxy.dropped == 1 and proxy.dropped_replies[0].startswith(b"*2")
        assert day.result.status == "success"
        assert scheduler_db.get(SUCCESS) == "completed" and scheduler_db.exists(LOCK) == 0
    finally:
        proxy.close()


def test_unix_socket_urls_keep_their_path_and_encoded_passwords_are_redacted():
    from ocapistaine_pipelines.redis_connection import _without_db

    assert _without_db("unix:///run/redis.sock?db=3") == "unix:///run/redis.sock"
    assert (
        _without_db("redis://:pw@host:6379/4?db=2&ssl_cert_reqs=none")
        == "redis://:pw@host:6379?ssl_cert_reqs=none"
    )
    resource = RedisResource(url="redis://:p%40ss@host:6379")
    assert "p@ss" not in resource.redact("auth failed for p@ss") and "p%40ss" not in resource.redact(
        "url p%40ss"
    )
    with pytest.raises(ValueError, match="REDIS_DB must be a whole number, got 'five'"):
        redis_resource_from_env({"REDIS_DB": "five"})


def test_several_failed_days_keep_the_legacy_keys(guard):
    def work(day, key):
        raise ValueError(f"bad {key}")

    result = materialize(
        guarded_asset(TASK_OPIK_EXPERIMENT, work), guard, partition_range=("2026-03-01", "2026-03-02")
    )
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    meta = {
        k: getattr(v, "value", v) for k, v in failure.event_specific_data.user_failure_data.metadata.items()
    }
    assert {"status", "reason", "task_id", "date", "errors", "warnings", "failed_days"} <= set(meta)
    assert meta["status"] == "failed" and len(meta["failed_days"]) == 2 and len(meta["errors"]) == 2


def test_a_transient_failure_is_retried_and_a_final_one_is_not(guard, scheduler_db):
    import dagster as dg

    policy = dg.RetryPolicy(max_retries=2, delay=0)
    attempts = []

    def flaky(day, key):
        attempts.append(scheduler_db.get(LOCK))
        if len(attempts) == 1:
            raise ConnectionResetError("upstream reset")
        return {}

    result = materialize(guarded_asset(TASK_FIRECRAWL, flaky, retry_policy=policy), guard, partition_key=DAY)
    assert result.success and len(attempts) == 2
    assert attempts[0] == attempts[1] == result.run_id  # the retry claims the day again with the same run id
    assert scheduler_db.get(SUCCESS) == "completed"

    scheduler_db.flushdb()
    final = []

    def wrong_key(day, key):
        final.append(key)
        raise TaskError("failed", "401: the API key was refused", retryable=False)

    result = materialize(
        guarded_asset(TASK_FIRECRAWL, wrong_key, retry_policy=policy), guard, partition_key=DAY
    )
    assert not result.success and final == [DAY]
    assert scheduler_db.exists(SUCCESS) == 0 and scheduler_db.exists(LOCK) == 0


def test_task_retry_policy_from_the_environment(monkeypatch):
    import dagster as dg

    from ocapistaine_pipelines.settings import task_retry_policy

    monkeypatch.setenv("OCAPISTAINE_TASK_RETRIES", "3")
    monkeypatch.setenv("OCAPISTAINE_TASK_RETRY_DELAY", "5")
    policy = task_retry_policy()
    assert (policy.max_retries, policy.delay, policy.backoff) == (3, 5, dg.Backoff.EXPONENTIAL)
    monkeypatch.setenv("OCAPISTAINE_TASK_RETRY_DELAY", "soon")
    with pytest.raises(
        ValueError, match="OCAPISTAINE_TASK_RETRY_DELAY must be a number of seconds, got 'soon'"
    ):
        task_retry_policy()
    monkeypatch.setenv("OCAPISTAINE_TASK_RETRIES", "0")
    assert task_retry_policy() is None


def test_a_re_execution_takes_over_the_lock_its_crashed_parent_left(guard, scheduler_db):
    """Dagster's retry of a crashed run is a new run with dagster/parent_run_id: it must redo the day,
    not skip it as lock_held because the dead parent's lock has not expired yet."""
    scheduler_db.set(LOCK, "crashed-parent", px=300_000)
    retry = guard.day(
        TASK_FIRECRAWL, DAY, "retry-run", predecessors={"crashed-parent": "failed", "root-run": "failed"}
    )
    with retry:
        assert retry.acquired and scheduler_db.get(LOCK) == "retry-run"
    assert retry.result.status == "success"
    assert any("crashed-parent" in warning for warning in retry.result.warnings)

    scheduler_db.delete(SUCCESS)
    scheduler_db.set(LOCK, "unrelated-run", px=300_000)
    stranger = guard.day(TASK_FIRECRAWL, DAY, "another-retry", predecessors={"crashed-parent": "failed"})
    assert stranger.claim() is False and stranger.result.reason == "lock_held"
    assert scheduler_db.get(LOCK) == "unrelated-run"


def test_task_error_status_travels_with_the_failure(guard):
    def work(day, key):
        raise TaskError("pending", "the LLM judged nothing")

    result = materialize(guarded_asset(TASK_FIRECRAWL, work), guard, partition_key=DAY)
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    data = failure.event_specific_data.user_failure_data
    assert "[pending] the LLM judged nothing" in data.description
    assert data.metadata["task_error_status"].value == "pending"
