"""Test helpers for the guard: a guarded asset whose work a test supplies, and a faulty TCP proxy."""

import socket
import threading
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


class ReplyDroppingProxy:
    """A TCP proxy to Redis that drops the reply to the first command containing ``marker`` and
    closes that client connection, as a network fault after the server executed the command."""

    def __init__(self, target_port: int, marker: bytes):
        self.target_port = target_port
        self.marker = marker
        self.dropped = 0
        self.dropped_replies: list[bytes] = []
        self._armed = True
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self.port = self._server.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        try:
            while True:
                request = client.recv(65536)
                if not request:
                    return
                drop = self._armed and self.marker in request
                upstream.sendall(request)
                reply = upstream.recv(65536)
                if drop:
                    self._armed = False
                    self.dropped += 1
                    self.dropped_replies.append(reply)
                    return  # the server executed it; the client never hears back
                client.sendall(reply)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def close(self) -> None:
        self._closed = True
        self._server.close()


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


class BlackholeProxy:
    """A TCP proxy to Redis that forwards both ways until ``cut()``; from then on the server still gets
    every command but no reply comes back and connections stay open: a network partition between one
    run and Redis (other clients, connected directly, still reach it)."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.cut_at: float | None = None
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self.port = self._server.getsockname()[1]
        self._closed = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        import time

        self.cut_at = time.monotonic()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, replies: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    return
                if replies and self.cut_at is not None:
                    continue  # swallowed
                target.sendall(data)
        except OSError:
            return

    def close(self) -> None:
        self._closed = True
        self._server.close()
        for sock in self._sockets:
            try:
                sock.close()
            except OSError:
                pass
