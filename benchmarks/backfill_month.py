"""A month's backfill of contributions + contributions_analysis through `dagster dev`, against one day's run.

Starts a private redis-server and `dagster dev` on the project's workspace.yaml (deploy/dagster-dev.yaml),
then, for the multiprocess executor (Dagster's default) and the in-process one (run config):
  day          one partition launched through GraphQL (as run_task_now does)
  month run    the month as one run (range tags: what BackfillPolicy.single_run() makes of a backfill)
  month UI     the month through launchPartitionBackfill (the UI's and CLI's backfill), until its run ends
Wall times include the queue; "run" is the run's own start -> end. Each case starts from an empty Redis,
so every day does its work; the script checks that every day got its success key.

    .venv/bin/python benchmarks/backfill_month.py [--month 2026-03] [--skip-ui]
"""

from __future__ import annotations

import argparse
import calendar
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ocapistaine_pipelines_tests.orchestration.dagster_dev import (  # noqa: E402
    DagsterDev,
    launch_backfill,
    wait_for_backfill_run,
)
from ocapistaine_pipelines_tests.services import RedisServer  # noqa: E402

TASK = "task_contributions_analysis"
SELECTION = [["contributions"], ["contributions_analysis"]]
EXECUTORS = {
    "multiprocess": {"execution": {"config": {"multiprocess": {}}}},
    "in_process": {"execution": {"config": {"in_process": {}}}},
}


def run_times(dev: DagsterDev, run_id: str, started: float) -> dict:
    run = dev.wait_for_run(run_id, timeout=600)
    wall = time.monotonic() - started
    if run["status"] != "SUCCESS":
        raise RuntimeError(f"run {run_id} ended {run['status']}:\n{dev.log_tail()}")
    return {"wall": wall, "run": (run["end"] or 0) - (run["start"] or 0)}


def check_marked(redis_server: RedisServer, days: list[str]) -> None:
    marked = {key.split(":")[-1] for key in redis_server.client(6).keys(f"success:{TASK}:*")}
    missing = [d for d in days if d.replace("-", "") not in marked]
    if missing:
        raise RuntimeError(f"days without a success key: {missing}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--month", default="2026-03", help="YYYY-MM (default 2026-03, 31 days with a DST change)")
    parser.add_argument("--skip-ui", action="store_true", help="skip launchPartitionBackfill (its daemon ticks every 30 s)")
    args = parser.parse_args()
    year, month = map(int, args.month.split("-"))
    days = [f"{year}-{month:02d}-{d:02d}" for d in range(1, calendar.monthrange(year, month)[1] + 1)]
    day = days[9]

    from dagster_graphql import DagsterGraphQLClient

    redis_server = RedisServer()
    data_dir = tempfile.mkdtemp(prefix="ocapistaine-bench-data-")
    env = {"REDIS_URL": f"redis://127.0.0.1:{redis_server.port}", "OCAPISTAINE_DATA_DIR": data_dir}
    started = time.monotonic()
    dev = DagsterDev(ROOT / "workspace.yaml", env)
    results: dict[str, dict] = {}
    try:
        dev.start()
        print(f"dagster dev ready in {time.monotonic() - started:.1f} s on {dev.url}", flush=True)
        client = DagsterGraphQLClient("127.0.0.1", port_number=dev.port)

        def submit(tags: dict, run_config: dict) -> dict:
            redis_server.client().flushall()
            t0 = time.monotonic()
            run_id = client.submit_job_execution("__ASSET_JOB", asset_selection=SELECTION, tags=tags, run_config=run_config)
            return run_times(dev, run_id, t0)

        for name, run_config in EXECUTORS.items():
            # a warm-up day, so the first measured run does not pay for cold caches
            submit({"dagster/partition": days[0]}, run_config)
            results[f"{name} day"] = submit({"dagster/partition": day}, run_config)
            check_marked(redis_server, [day])
            print(f"{name:>12} day:        wall {results[f'{name} day']['wall']:6.1f} s   run {results[f'{name} day']['run']:6.1f} s", flush=True)
            results[f"{name} month run"] = submit(
                {"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]}, run_config
            )
            check_marked(redis_server, days)
            r = results[f"{name} month run"]
            print(f"{name:>12} month run:  wall {r['wall']:6.1f} s   run {r['run']:6.1f} s", flush=True)
            if not args.skip_ui:
                redis_server.client().flushall()
                t0 = time.monotonic()
                backfill = wait_for_backfill_run(dev, launch_backfill(dev, days, run_config), timeout=600)
                [run] = backfill["runs"]
                if name not in run["runConfigYaml"]:
                    raise RuntimeError(f"the backfill's run does not use the {name} executor:\n{run['runConfigYaml']}")
                results[f"{name} month UI"] = run_times(dev, run["id"], t0)
                check_marked(redis_server, days)
                r = results[f"{name} month UI"]
                print(f"{name:>12} month UI:   wall {r['wall']:6.1f} s   run {r['run']:6.1f} s", flush=True)
    finally:
        dev.cleanup()
        redis_server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)

    n = len(days)
    print()
    print(f"| case ({n} days) | wall s | run s | month / day (wall) | vs {n} one-day runs |")
    print("|---|---|---|---|---|")
    for name in EXECUTORS:
        one = results[f"{name} day"]
        print(f"| {name}: one day | {one['wall']:.1f} | {one['run']:.1f} | 1.00 | - |")
        for case in ("month run", "month UI"):
            r = results.get(f"{name} {case}")
            if r:
                print(f"| {name}: {case} | {r['wall']:.1f} | {r['run']:.1f} | {r['wall'] / one['wall']:.2f} | "
                      f"{n * one['wall']:.0f} s -> {r['wall']:.1f} s ({n * one['wall'] / r['wall']:.0f}x) |")
    best = min(r["wall"] for k, r in results.items() if "month" in k)
    print(f"\nbest month wall time: {best:.1f} s (goal < 60 s): {'OK' if best < 60 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
