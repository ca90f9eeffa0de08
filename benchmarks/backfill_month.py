"""A month of task_contributions_analysis through `dagster dev`, against one day's run.

Starts a private redis-server and `dagster dev` on the project's workspace.yaml (deploy/dagster-dev.yaml),
then launches, through GraphQL, the task's job (contributions + contributions_analysis):
  day          one partition (as run_task_now does)
  month run    the month as one run (range tags, as `dagster job execute --tags` does)
  month UI     the month from the job's partitions (the UI's "Launch backfill"): one run per day
Wall times include the queue (and, for the backfill, the daemon's 30 s cadence); "runs" is the sum of the
runs' own start -> end. Each case starts from an empty Redis and checks that every day got its success key.

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
    launch_job_backfill,
    wait_for_backfill_run,
)
from ocapistaine_pipelines_tests.services import RedisServer  # noqa: E402

TASK = "task_contributions_analysis"
ASSETS = ["contributions", "contributions_analysis"]


def run_times(dev: DagsterDev, run_id: str, started: float) -> dict:
    run = dev.wait_for_run(run_id, timeout=600)
    wall = time.monotonic() - started
    if run["status"] != "SUCCESS":
        raise RuntimeError(f"run {run_id} ended {run['status']}:\n{dev.log_tail()}")
    return {"wall": wall, "run": (run["end"] or 0) - (run["start"] or 0), "runs": 1}


def check_marked(redis_server: RedisServer, days: list[str]) -> None:
    marked = {key.split(":")[-1] for key in redis_server.client(6).keys(f"success:{TASK}:*")}
    missing = [d for d in days if d.replace("-", "") not in marked]
    if missing:
        raise RuntimeError(f"days without a success key: {missing}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--month", default="2026-03", help="YYYY-MM (default 2026-03, 31 days with a DST change)"
    )
    parser.add_argument(
        "--skip-ui", action="store_true", help="skip the job backfill (its daemon ticks every 30 s)"
    )
    args = parser.parse_args()
    year, month = map(int, args.month.split("-"))
    days = [f"{year}-{month:02d}-{d:02d}" for d in range(1, calendar.monthrange(year, month)[1] + 1)]

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

        def submit(tags: dict) -> dict:
            redis_server.client().flushall()
            t0 = time.monotonic()
            return run_times(dev, client.submit_job_execution(TASK, tags=tags), t0)

        submit({"dagster/partition": days[0]})  # warm-up: the first run pays for cold caches
        results["day"] = submit({"dagster/partition": days[9]})
        check_marked(redis_server, [days[9]])
        results["month run"] = submit(
            {"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]}
        )
        check_marked(redis_server, days)
        if not args.skip_ui:
            redis_server.client().flushall()
            t0 = time.monotonic()
            backfill = wait_for_backfill_run(
                dev, launch_job_backfill(dev, TASK, days, ASSETS), timeout=900, expected_runs=len(days)
            )
            wall = time.monotonic() - t0
            runs = [dev.run(run["id"]) for run in backfill["runs"]]
            if any(run["status"] != "SUCCESS" for run in runs):
                raise RuntimeError(f"a backfill run failed:\n{dev.log_tail()}")
            results["month UI"] = {
                "wall": wall,
                "run": sum((r["end"] or 0) - (r["start"] or 0) for r in runs),
                "runs": len(runs),
            }
            check_marked(redis_server, days)
        for name, r in results.items():
            print(
                f"{name:>10}: wall {r['wall']:6.1f} s   runs {r['runs']:3d}   run time {r['run']:6.1f} s",
                flush=True,
            )
    finally:
        dev.cleanup()
        redis_server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)

    n = len(days)
    one = results["day"]
    print()
    print(f"| case ({n} days, in-process executor) | runs | wall s | sum of run times s | wall / one day |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['runs']} | {r['wall']:.1f} | {r['run']:.1f} | {r['wall'] / one['wall']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
