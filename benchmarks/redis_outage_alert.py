"""Time from a Redis outage to the alert: the real chain schedule and the real ``deadline_alerts``
sensor, on the daemon's cadence (chain every 7 minutes, sensor every 60 s), in simulated time.

For each outage kind (redis-server killed: connection refused; redis-server frozen with SIGSTOP:
timeouts) and each threshold ``OCAPISTAINE_REDIS_SKIP_TICKS``, outages start at offsets spread over
one 7-minute chain cycle (and the sensor's phase over its minute). Every evaluation runs for real
(a private redis-server, a Dagster instance, a loopback webhook); its wall time is added to the
simulated clock, so slow failures (a frozen Redis) count. Printed: outage -> alert latency (min,
median, max) and its ratio to the design bound N x 7 min + 1 min. On main before this change the
chain only skipped: no alert at all.

    .venv/bin/python benchmarks/redis_outage_alert.py [--trials 6]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402

from ocapistaine_pipelines.guard import TaskGuard  # noqa: E402
from ocapistaine_pipelines.orchestration import deadlines, schedules  # noqa: E402
from ocapistaine_pipelines.orchestration.jobs import task_jobs  # noqa: E402
from ocapistaine_pipelines.orchestration.sensors import ALERT_WEBHOOK_ENV  # noqa: E402
from ocapistaine_pipelines.redis_connection import RedisResource  # noqa: E402
from ocapistaine_pipelines.resources import build_resources  # noqa: E402
from ocapistaine_pipelines_tests.orchestration.standin_assets import ASSETS  # noqa: E402
from ocapistaine_pipelines_tests.orchestration.webhook import Webhook  # noqa: E402
from ocapistaine_pipelines_tests.services import RedisServer  # noqa: E402

PARIS = ZoneInfo("Europe/Paris")
CHAIN_PERIOD = dt.timedelta(minutes=7)
SENSOR_PERIOD = dt.timedelta(seconds=deadlines.SENSOR_INTERVAL_SECONDS)
REPOSITORY = dg.Definitions(
    assets=ASSETS,
    jobs=task_jobs(),
    schedules=schedules.task_schedules(),
    resources=build_resources({"REDIS_URL": "redis://127.0.0.1:9"}),
).get_repository_def()


def one_outage(kind: str, offset: float, sensor_phase: float, webhook: Webhook) -> float:
    """Seconds from the outage to the alert's delivery, in the daemon's time."""
    server = RedisServer()
    guard = TaskGuard(redis=RedisResource(url=server.url))
    first_tick = dt.datetime(2026, 11, 29, 10, 0, tzinfo=PARIS)  # a chain tick (*/7: 10:00, 10:07, ...)
    outage = first_tick + dt.timedelta(seconds=offset)
    received = len(webhook.received)
    events = []  # (simulated time, what)
    for i in range(40):
        events.append((first_tick + i * CHAIN_PERIOD, "chain"))
    for i in range(300):
        events.append((first_tick + dt.timedelta(seconds=sensor_phase) + i * SENSOR_PERIOD, "sensor"))
    events.sort()
    down = False
    cursor = None
    lag = dt.timedelta()  # wall time spent in evaluations, added to the daemon's clock
    try:
        with dg.instance_for_test() as instance:
            for when, what in events:
                now = when + lag
                if not down and now >= outage:
                    server.stop() if kind == "killed" else server.pause()
                    down = True
                started = time.perf_counter()
                if what == "chain":
                    with dg.build_schedule_context(
                        instance=instance,
                        scheduled_execution_time=when,
                        resources={"guard": guard},
                        repository_def=REPOSITORY,
                    ) as context:
                        schedules.orchestrate_task_chain.evaluate_tick(context)
                else:
                    deadlines.current_time = lambda now=now: now
                    with dg.build_sensor_context(
                        instance=instance, cursor=cursor, resources={"guard": guard}
                    ) as context:
                        cursor = deadlines.deadline_alerts.evaluate_tick(context).cursor
                lag += dt.timedelta(seconds=time.perf_counter() - started)
                if len(webhook.received) > received:
                    assert webhook.received[-1]["kind"] == "redis_unreachable"
                    return (when + lag - outage).total_seconds()
    finally:
        server.stop()
    raise RuntimeError("no alert within the simulated window")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--trials", type=int, default=6, help="outage offsets per case, spread over a chain cycle"
    )
    args = parser.parse_args()
    os.environ[deadlines.DEADLINES_ENV] = (
        "task_firecrawl=off,task_opik_experiment=off,task_contributions_analysis=off"
    )
    webhook = Webhook()
    os.environ[ALERT_WEBHOOK_ENV] = webhook.url
    print("| outage | N ticks | trials | min | median | max | max / bound (N x 7 + 1 min) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    try:
        for kind in ("killed", "frozen"):
            for threshold in (1, 3):
                os.environ[deadlines.REDIS_SKIP_TICKS_ENV] = str(threshold)
                latencies = []
                for trial in range(args.trials):
                    offset = 1 + trial * CHAIN_PERIOD.total_seconds() / args.trials
                    phase = (trial * 37) % 60
                    latencies.append(one_outage(kind, offset, phase, webhook))
                bound = threshold * CHAIN_PERIOD.total_seconds() + SENSOR_PERIOD.total_seconds()
                mins = [x / 60 for x in latencies]
                print(
                    f"| {kind} | {threshold} | {args.trials} | {min(mins):.1f} min "
                    f"| {statistics.median(mins):.1f} min "
                    f"| {max(mins):.1f} min | {max(latencies) / bound:.2f} |",
                    flush=True,
                )
    finally:
        webhook.close()


if __name__ == "__main__":
    main()
