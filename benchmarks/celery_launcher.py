"""Runs on Celery workers against the default launcher, side by side in one run; and kill-to-retry time.

Starts a private PostgreSQL, redis-servers (guard + broker), moto's S3 server and a loopback LLM, then,
for each instance (same code, same environment, data on S3, LLM validator):
  celery   deploy/dagster-celery.yaml: code server, webserver, daemon + 2 workers (-Q dagster -c 1)
  default  deploy/dagster.yaml: code server (runs are its subprocesses), webserver, daemon
it launches through ocapistaine_pipelines.client / GraphQL:
  7 days       seven day-runs of task_contributions_analysis (run_task_now), until all are done
  month runs   a month as one run per day (run_task_now for each day: the day-by-day catch-up)
  month run    the month as one run (range tags: what BackfillPolicy.single_run() makes of a backfill)
Each case starts from an empty Redis and its own S3 prefix, so every day does its work (and no LLM
answer is cached); the script checks the success keys. Then, on the Celery instance with the shipped
monitoring settings (20 s polls, 2 missed pings), a worker is killed whole mid-run: kill -> run failed
-> retry launched -> retry succeeded.

    .venv/bin/python benchmarks/celery_launcher.py [--month 2026-03] [--skip-kill|--only-kill] [--only-celery]
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from ocapistaine_pipelines import client  # noqa: E402
from ocapistaine_pipelines.guard.contract import TASK_CONTRIBUTIONS_ANALYSIS, success_key  # noqa: E402
from ocapistaine_pipelines.workers.environment import WORKER_TAG  # noqa: E402
from ocapistaine_pipelines_tests.orchestration.celery_cluster import Cluster  # noqa: E402
from ocapistaine_pipelines_tests.orchestration.test_deploy_celery import HoldingLLM, export  # noqa: E402
from ocapistaine_pipelines_tests.services import RedisServer, S3Server  # noqa: E402

SELECTION = [["contributions"], ["contributions_analysis"]]


def start_postgres(base: Path) -> dict:
    os.chmod(base, 0o711)
    done = subprocess.run(
        [str(ROOT / "scripts" / "pg.sh"), "start", str(base / "pg")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return dict(line.split("=", 1) for line in done.stdout.split() if "=" in line)


def wait_done(cluster: Cluster, instance, run_ids: list[str], redis: RedisServer, days: list[str]) -> None:
    runs = cluster.wait_for_runs(instance, run_ids, timeout=2400)
    bad = {k: v.status.value for k, v in runs.items() if v.status.value != "SUCCESS"}
    if bad:
        raise RuntimeError(f"runs did not succeed: {bad}\n{cluster.tails()}")
    markers = redis.client(6)
    missing = [d for d in days if markers.get(success_key(TASK_CONTRIBUTIONS_ANALYSIS, d)) != "completed"]
    if missing:
        raise RuntimeError(f"days without a success key: {missing}")


def measure(cluster: Cluster, redis: RedisServer, reset_store, week: list[str], month: list[str]) -> dict:
    graphql = cluster.client()
    instance = cluster.instance()
    results = {}
    try:
        for case, days in (("7 days", week), ("month runs", month)):
            redis.client().flushall()
            reset_store(case)
            started = time.monotonic()
            ids = [client.run_task_now(TASK_CONTRIBUTIONS_ANALYSIS, day, client=graphql) for day in days]
            wait_done(cluster, instance, ids, redis, days)
            results[case] = time.monotonic() - started
        redis.client().flushall()
        reset_store("month run")
        started = time.monotonic()
        run_id = graphql.submit_job_execution(
            "__ASSET_JOB",
            repository_location_name="ocapistaine_pipelines",
            asset_selection=SELECTION,
            tags={
                "dagster/asset_partition_range_start": month[0],
                "dagster/asset_partition_range_end": month[-1],
                "ocapistaine/task": TASK_CONTRIBUTIONS_ANALYSIS,
            },
        )
        wait_done(cluster, instance, [run_id], redis, month)
        results["month run"] = time.monotonic() - started
    finally:
        instance.dispose()
    return results


def kill_to_retry(cluster: Cluster, redis: RedisServer, llm: HoldingLLM, day: str) -> dict:
    instance = cluster.instance()
    try:
        llm.held.clear()
        llm.hold.set()
        run_id = client.run_task_now(TASK_CONTRIBUTIONS_ANALYSIS, day, client=cluster.client())
        if not llm.held.wait(300):
            raise RuntimeError(f"the run never reached the model:\n{cluster.tails()}")
        victim = instance.get_run_by_id(run_id).tags[WORKER_TAG].split("@")[0]
        killed = time.monotonic()
        cluster.kill(victim)
        llm.hold.clear()
        times: dict[str, float] = {}
        retry_id = None
        while time.monotonic() - killed < 600:
            if "failed" not in times and instance.get_run_by_id(run_id).status.value == "FAILURE":
                times["failed"] = time.monotonic() - killed
            if retry_id is None:
                children = [r for r in instance.get_runs(limit=50) if r.parent_run_id == run_id]
                if children:
                    retry_id, times["retry launched"] = children[0].run_id, time.monotonic() - killed
            if retry_id and instance.get_run_by_id(retry_id).status.value in ("SUCCESS", "FAILURE"):
                if instance.get_run_by_id(retry_id).status.value != "SUCCESS":
                    raise RuntimeError(f"the retry failed:\n{cluster.tails()}")
                times["retry succeeded"] = time.monotonic() - killed
                break
            time.sleep(0.2)
        if redis.client(6).get(success_key(TASK_CONTRIBUTIONS_ANALYSIS, day)) != "completed":
            raise RuntimeError("the killed day was not completed by its retry")
        return times
    finally:
        instance.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--month", default="2026-03", help="YYYY-MM (default 2026-03, 31 days)")
    parser.add_argument("--skip-kill", action="store_true")
    parser.add_argument("--only-kill", action="store_true", help="only the kill-to-retry measure")
    parser.add_argument(
        "--only-celery", action="store_true", help="the Celery instance's cases and kill only (no ratios)"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs (printed path)")
    args = parser.parse_args()
    year, month_number = map(int, args.month.split("-"))
    length = calendar.monthrange(year, month_number)[1]
    month = [f"{year}-{month_number:02d}-{d:02d}" for d in range(1, length + 1)]
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date()
    week = [(today - dt.timedelta(days=n)).isoformat() for n in range(8, 1, -1)]
    kill_day = (today - dt.timedelta(days=1)).isoformat()

    base = Path(tempfile.mkdtemp(prefix="ocapistaine-bench-celery-"))
    guard, broker, s3, llm = RedisServer(), RedisServer(), S3Server(), HoldingLLM()
    __import__("litellm")  # the loopback LLM counts tokens with it
    bucket = s3.create_bucket(f"bench-{uuid.uuid4().hex[:8]}")
    postgres = start_postgres(base)
    env = {
        **s3.env,
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{broker.port}/0",
        "CELERY_RESULT_BACKEND": f"redis://127.0.0.1:{broker.port}/1",
        "REDIS_URL": guard.url,
        "REDIS_HOST": "",
        "REDIS_PORT": "",
        "REDIS_PASSWORD": "",
        "OCAPISTAINE_CONTRIBUTIONS_SOURCE": export(
            base / "export.json", sorted({*month, *week, kill_day}), slow_day=kill_day
        ),
        "OCAPISTAINE_VALIDATOR": "llm",
        "OCAPISTAINE_LLM_MODELS": "openai/primary",
        "OCAPISTAINE_LLM_API_BASE": f"{llm.url}/v1",
        "OCAPISTAINE_LLM_API_KEY": "sk-loopback",
        "OCAPISTAINE_TASK_RETRIES": "0",
        "OPIK_ANALYTICS_ENABLE": "false",
        "HOME": str(base),
    }
    results: dict[str, dict] = {}
    kill: dict = {}
    try:
        instances = [("celery", "dagster-celery.yaml")]
        if not (args.only_kill or args.only_celery):
            instances.append(("default", "dagster.yaml"))
        for name, yaml_file in instances:
            # every case gets its own S3 prefix; the processes read OCAPISTAINE_DATA_DIR per run from it
            cluster = Cluster(
                postgres,
                {**env, "OCAPISTAINE_DATA_DIR": f"s3://{bucket}/{name}"},
                instance_yaml=ROOT / "deploy" / yaml_file,
            )
            try:
                started = time.monotonic()
                cluster.start_dagster()
                workers = ("w1", "w2") if name == "celery" else ()
                for worker in workers:
                    cluster.start_worker(worker)
                cluster.wait_ready(workers=workers, timeout=300)
                print(f"{name}: ready in {time.monotonic() - started:.1f} s", flush=True)

                def next_prefix(case: str, prefix: str = f"{bucket}/{name}") -> None:
                    # the LLM cache and the day's files live under the data dir: empty it between cases
                    fs = s3.filesystem()
                    if fs.exists(prefix):
                        fs.rm(prefix, recursive=True)

                if not args.only_kill:
                    results[name] = measure(cluster, guard, next_prefix, week, month)
                    timings = ", ".join(f"{k} {v:.1f} s" for k, v in results[name].items())
                    print(f"{name}: {timings}", flush=True)
                if name == "celery" and not args.skip_kill:
                    guard.client().flushall()
                    kill = kill_to_retry(cluster, guard, llm, kill_day)
                    print("kill: " + ", ".join(f"{k} {v:.1f} s" for k, v in kill.items()), flush=True)
            finally:
                if args.keep_logs:
                    cluster.stop()
                    print(f"{name}: logs in {cluster.base}")
                else:
                    cluster.cleanup()
    finally:
        llm.hold.clear()
        subprocess.run(
            [str(ROOT / "scripts" / "pg.sh"), "stop", str(base / "pg")], capture_output=True, timeout=60
        )
        for server in (llm, s3, broker, guard):
            server.stop()
        shutil.rmtree(base, ignore_errors=True)

    print("\n| case | default launcher | Celery launcher (2 workers) | ratio |\n|---|---|---|---|")
    for case in results.get("celery", {}) if "default" in results else ():
        d, c = results["default"][case], results["celery"][case]
        print(f"| {case} | {d:.1f} s | {c:.1f} s | {d / c:.2f}x |")
    if kill:
        timings = ", ".join(f"{k} {v:.1f} s" for k, v in kill.items())
        print(f"\nworker killed whole (20 s polls, 2 missed pings): {timings}")
    print(json.dumps({"results": results, "kill": kill}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
