"""Test helpers for the guard: a guarded asset whose work a test supplies, a re-executable probe job,
and a Redis restart after a loopback server's Nth request (the faulty TCP proxies are in ``proxies``)."""

import threading
import time
from collections.abc import Callable

import dagster as dg

from ocapistaine_pipelines.guard import GuardedDay, TaskGuard, run_guarded_days
from ocapistaine_pipelines.partitions import daily_partitions

from . import dagster_instances


def guarded_asset(
    task_name: str,
    work: Callable[[GuardedDay, str], dict | None],
    *,
    skip_success_check: bool = False,
    retry_policy: dg.RetryPolicy | None = None,
):
    """A daily asset that runs ``work`` under the guard, as every task asset does."""

    @dg.asset(
        name="guarded_probe",
        partitions_def=daily_partitions,
        output_required=False,
        backfill_policy=dg.BackfillPolicy.single_run(),
        retry_policy=retry_policy,
    )
    def _asset(context: dg.AssetExecutionContext, guard: TaskGuard):
        yield from run_guarded_days(context, guard, task_name, work, skip_success_check=skip_success_check)

    return _asset


def materialize(
    asset, guard, *, partition_key: str | None = None, partition_range=None, tags=None, instance=None
):
    run_tags = dict(tags or {})
    if partition_range:
        run_tags["dagster/asset_partition_range_start"], run_tags["dagster/asset_partition_range_end"] = (
            partition_range
        )
    return dg.materialize(
        [asset],
        instance=instance or dagster_instances.ephemeral(),
        partition_key=partition_key,
        resources={"guard": guard},
        tags=run_tags,
        raise_on_error=False,
    )


def events(result, event_type: str) -> list:
    return [event for event in result.all_events if event.event_type_value == event_type]


def plain_value(value):
    """A metadata value as a plain value; a table as its list of row dicts."""
    if isinstance(value, dg.TableMetadataValue):
        return [dict(record.data) for record in value.records]
    return getattr(value, "value", value)


def day_metadata(result) -> dict[str, dict]:
    """Per partition: the metadata of its materialization or observation, as plain values."""
    out: dict[str, dict] = {}
    for event in result.all_events:
        data = event.event_specific_data
        record = getattr(data, "materialization", None) or getattr(data, "asset_observation", None)
        if record is None or event.event_type_value not in ("ASSET_MATERIALIZATION", "ASSET_OBSERVATION"):
            continue
        out[record.partition] = {key: plain_value(value) for key, value in record.metadata.items()}
        out[record.partition]["_event"] = event.event_type_value
    return out


def failure_of(result):
    failures = events(result, "STEP_FAILURE")
    return failures[0].event_specific_data.error if failures else None


# -- a reconstructable job, for re-executions through Dagster's own API ------------------------------------
PROBE_REDIS_ENV = "OCAPISTAINE_TEST_PROBE_REDIS_URL"


def _held_work(day: GuardedDay, partition_key: str) -> dict:
    """The first run to work the day waits (checking its lock) until the test sets ``probe:release``;
    any later one records itself and returns at once."""
    import os
    import time

    import redis

    client = redis.Redis.from_url(os.environ[PROBE_REDIS_ENV], decode_responses=True)
    position = client.rpush("probe:workers", day.task_id)
    if position == 1:
        deadline = time.monotonic() + 30
        while not client.exists("probe:release") and time.monotonic() < deadline:
            day.check()
            time.sleep(0.02)
        day.check()
    return {"worker": position}


def reexecution_probe_job():
    """A one-asset job on a persistent instance, so a test can re-execute a run that is still STARTED."""
    from ocapistaine_pipelines.guard import TASK_FIRECRAWL
    from ocapistaine_pipelines.redis_connection import RedisResource

    # EnvVar: read when a run starts (Dagster caches the job definition across tests)
    guard = TaskGuard(redis=RedisResource(url=dg.EnvVar(PROBE_REDIS_ENV)), lock_ttl_seconds=3)
    asset = guarded_asset(TASK_FIRECRAWL, _held_work)
    job = dg.define_asset_job("probe", selection=[asset], executor_def=dg.in_process_executor)
    return dg.Definitions(assets=[asset], jobs=[job], resources={"guard": guard}).resolve_job_def("probe")


class RestartAfterRequests:
    """Holds every request a loopback server answers ``hold`` seconds and notes when it came; restarts a
    private redis-server (every key lost: another run may claim the day) once ``after`` requests came.
    Used as a context manager around the run under test; then ``sent_after_loss`` and ``last_after_loss``
    say what the holder sent once its lock was gone."""

    def __init__(self, server, redis_server, after: int = 4, hold: float = 0.4):
        self.server, self.redis_server, self.after, self.hold = server, redis_server, after, hold
        self.sent_at: list[float] = []
        self.loss_at: float | None = None
        self.sent_before_loss = 0
        self._answer = server.handle
        self._fault = threading.Thread(target=self._restart, daemon=True)

    def _timed(self, *args):
        self.sent_at.append(time.monotonic())
        time.sleep(self.hold)
        return self._answer(*args)

    def _restart(self) -> None:
        deadline = time.monotonic() + 120  # litellm's first import may take long on a busy machine
        while len(self.sent_at) < self.after and time.monotonic() < deadline:
            time.sleep(0.01)
        self.redis_server.restart()
        self.loss_at, self.sent_before_loss = time.monotonic(), len(self.sent_at)

    def __enter__(self) -> "RestartAfterRequests":
        self.server.handle = self._timed
        self._fault.start()
        return self

    def __exit__(self, *exc) -> None:
        self._fault.join()
        self.server.handle = self._answer

    @property
    def sent_after_loss(self) -> int:
        assert self.sent_before_loss >= self.after, "the server was never asked: the fault was not reached"
        return len(self.sent_at) - self.sent_before_loss

    @property
    def last_after_loss(self) -> float:
        """Seconds from the loss to the last request sent after it (0 when none was)."""
        return max((t - self.loss_at for t in self.sent_at if t > self.loss_at), default=0.0)
