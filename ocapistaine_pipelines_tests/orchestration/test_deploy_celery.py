"""Runs on Celery workers across "hosts", data on a shared object store (deploy/dagster-celery.yaml).

Code server, webserver and daemon as separate processes on the private PostgreSQL; two workers of the
``dagster`` queue and one of the ``crawl`` queue, each in its own process group and working folder,
their broker and result backend on a private redis-server; the day's files on moto's S3 server; the
LLM validator on a loopback LLM. Seven days of the contributions task and a crawl go through
``client.run_task_now``; then a worker is killed whole in the middle of a day."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import threading
import time
import uuid
from zoneinfo import ZoneInfo

import pytest

from ocapistaine_pipelines import client
from ocapistaine_pipelines.guard.contract import (
    STATUS_TAG,
    TASK_CONTRIBUTIONS_ANALYSIS,
    TASK_FIRECRAWL,
    lock_key,
    success_key,
)
from ocapistaine_pipelines.orchestration.chain import CELERY_QUEUE_TAG as QUEUE_TAG
from ocapistaine_pipelines.workers.environment import WORKER_TAG, worker_environment_problems

from ..contributions.servers import FakeLLM, default_judge
from ..crawl.fake_firecrawl import FakeFirecrawl, build_site
from ..services import RedisServer, S3Server
from .celery_cluster import BIN, ROOT, Cluster

pytestmark = pytest.mark.slow
# the loopback LLM counts tokens with litellm: its price list from the package, not from the internet
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

SITE = "https://www.audierne.bzh"
SLOW_MARKER = "LENTEUR"


def recent_days(count: int) -> list[str]:
    """``count`` days ending the day before yesterday: recent enough for the export's date window, clear of
    the days the cluster's own schedules work on (from 06:00 to 23:00 the chain runs today and forces
    yesterday's close, which would skip or race the runs these tests launch)."""
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date()
    return [(today - dt.timedelta(days=n)).isoformat() for n in range(count + 1, 1, -1)]


class HoldingLLM(FakeLLM):
    """The loopback LLM; while ``hold`` is set, a prompt with the slow marker waits (a day mid-run)."""

    def __init__(self):
        self.hold = threading.Event()
        self.held = threading.Event()
        super().__init__(judge=self._judge)

    def _judge(self, kind, user):
        if SLOW_MARKER in user and self.hold.is_set():
            self.held.set()
            deadline = time.monotonic() + 60
            while self.hold.is_set() and time.monotonic() < deadline:
                time.sleep(0.05)
        return default_judge(kind, user)


def export(path, days: list[str], slow_day: str) -> str:
    """Three contributions a day, each day's text distinct (no LLM cache hit across days)."""
    records = []
    for day in days:
        for n in range(3):
            text = f"Le port manque de pontons ({day}, {n})." + (
                f" {SLOW_MARKER}" if day == slow_day and n == 0 else ""
            )
            records.append(
                {
                    "id": f"{day}-{n}",
                    "category": "economie",
                    "constat_factuel": text,
                    "idees_ameliorations": "En ajouter deux.",
                    "created_at": f"{day}T10:00:00+01:00",
                }
            )
    path.write_text(json.dumps({"generated_at": f"{days[-1]}T23:00:00+01:00", "contributions": records}))
    return str(path)


@pytest.fixture(scope="module")
def stack(postgres, redis_server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("celery")
    days = recent_days(8)
    broker = RedisServer()
    s3 = S3Server()
    llm = HoldingLLM()
    firecrawl = FakeFirecrawl()
    build_site(firecrawl, SITE, 4)
    bucket = s3.create_bucket(f"ocapistaine-{uuid.uuid4().hex[:10]}")
    sources = tmp / "sources.json"
    sources.write_text(
        json.dumps(
            {
                "sources": [
                    {
                        "name": "mairie_arretes",
                        "url": f"{SITE}/arretes/",
                        "mode": "crawl",
                        "allowed_domains": ["audierne.bzh"],
                    }
                ]
            }
        )
    )
    env = {
        **s3.env,
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{broker.port}/0",
        "CELERY_RESULT_BACKEND": f"redis://127.0.0.1:{broker.port}/1",
        "REDIS_URL": redis_server.url,
        "REDIS_HOST": "",
        "REDIS_PORT": "",
        "REDIS_PASSWORD": "",
        "OCAPISTAINE_DATA_DIR": f"s3://{bucket}/town",
        "OCAPISTAINE_CONTRIBUTIONS_SOURCE": export(tmp / "export.json", days, slow_day=days[-1]),
        "OCAPISTAINE_VALIDATOR": "llm",
        "OCAPISTAINE_LLM_MODELS": "openai/primary",
        "OCAPISTAINE_LLM_API_BASE": f"{llm.url}/v1",
        "OCAPISTAINE_LLM_API_KEY": "sk-loopback-secret",
        "OCAPISTAINE_LLM_TIMEOUT": "90",
        "FIRECRAWL_API_URL": firecrawl.url,
        "OCAPISTAINE_CRAWL_SOURCES": str(sources),
        "OCAPISTAINE_TASK_RETRIES": "0",
        "OPIK_ANALYTICS_ENABLE": "false",
        "HOME": str(tmp),
    }
    cluster = Cluster(
        postgres,
        env,
        instance_yaml=ROOT / "deploy" / "dagster-celery.yaml",
        instance_changes={
            # shorter than production (20 s polls): the same mechanism, measured in seconds
            "run_monitoring": {"poll_interval_seconds": 2},
            "run_coordinator": {"config": {"dequeue_interval_seconds": 1}},
            "run_launcher": {"config": {"worker_ping_timeout_seconds": 1, "missed_pings": 2}},
        },
    )
    redis_server.client().flushall()
    begun = time.monotonic()
    try:
        cluster.start_dagster()
        # the loopback LLM counts tokens with litellm: import it while the cluster starts
        warm = threading.Thread(target=lambda: __import__("litellm"), daemon=True)
        warm.start()
        for name, queue in (("w1", "dagster"), ("w2", "dagster"), ("crawler", "crawl")):
            cluster.start_worker(name, queue)
        cluster.wait_ready(workers=("w1", "w2", "crawler"))
        warm.join(60)
        print(f"cluster ready in {time.monotonic() - begun:.1f} s")
        instance = cluster.instance()
        yield {
            "cluster": cluster,
            "instance": instance,
            "days": days,
            "s3": s3,
            "bucket": bucket,
            "llm": llm,
            "redis": redis_server,
        }
        instance.dispose()
    finally:
        llm.hold.clear()
        cluster.cleanup()
        for server in (firecrawl, llm, s3, broker):
            server.stop()


def analysis(stack, day: str):
    import pandas as pd

    return pd.read_parquet(
        io.BytesIO(stack["s3"].read(stack["bucket"], f"town/contributions_analysis/{day}.parquet"))
    )


def materializations(instance, run_id: str, asset: str) -> list[str]:
    import dagster as dg

    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    return [
        r.event_log_entry.dagster_event.partition
        for r in records
        if r.event_log_entry.dagster_event.asset_key.to_user_string() == asset
    ]


def test_seven_days_and_a_crawl_run_on_the_workers_and_land_in_the_shared_store(stack):
    cluster, instance, days = stack["cluster"], stack["instance"], stack["days"][:7]
    graphql = cluster.client()
    started = time.monotonic()
    run_ids = {day: client.run_task_now(TASK_CONTRIBUTIONS_ANALYSIS, day, client=graphql) for day in days}
    crawl_id = client.run_task_now(TASK_FIRECRAWL, days[0], client=graphql)
    runs = cluster.wait_for_runs(instance, [*run_ids.values(), crawl_id], timeout=150)
    elapsed = time.monotonic() - started

    assert {run_id: run.status.value for run_id, run in runs.items()} == {
        run_id: "SUCCESS" for run_id in runs
    }
    workers = {day: runs[run_id].tags.get(WORKER_TAG) for day, run_id in run_ids.items()}
    assert set(workers.values()) == {cluster.worker_name("w1"), cluster.worker_name("w2")}, (
        workers
    )  # both did some
    assert {runs[run_id].tags[QUEUE_TAG] for run_id in run_ids.values()} == {"dagster"}
    crawl = runs[crawl_id]
    assert crawl.tags[QUEUE_TAG] == "crawl" and crawl.tags[WORKER_TAG] == cluster.worker_name("crawler")
    for day, run_id in run_ids.items():
        assert runs[run_id].tags[STATUS_TAG] == "success"
        assert materializations(instance, run_id, "contributions_analysis") == [day]

    # every output in the shared store, none on a worker's disk
    objects = stack["s3"].objects(stack["bucket"], "town")
    for day in days:
        assert objects.get(f"contributions/{day}.parquet", 0) > 0
        assert objects.get(f"contributions_analysis/{day}.parquet", 0) > 0
        frame = analysis(stack, day)
        assert sorted(frame["id"]) == [f"{day}-{n}" for n in range(3)] and frame["is_valid"].notna().all()
    assert "documents/mairie_arretes/index.parquet" in objects
    assert sum(k.startswith("documents/mairie_arretes/pages/") and k.endswith(".md") for k in objects) == 5
    assert sum(k.startswith("contributions_analysis/llm_cache/") for k in objects) == 21
    for name in ("w1", "w2", "crawler"):
        assert not any(cluster.processes[name].cwd.iterdir()), f"{name} wrote on its own disk"

    # the Redis markers
    scheduler = stack["redis"].client(6)
    for day in days:
        assert scheduler.get(success_key(TASK_CONTRIBUTIONS_ANALYSIS, day)) == "completed"
        assert scheduler.get(lock_key(TASK_CONTRIBUTIONS_ANALYSIS, day)) is None
    assert scheduler.get(success_key(TASK_FIRECRAWL, days[0])) == "completed"
    app = stack["redis"].client(5)
    assert app.exists(f"contributions:validated:{days[0].replace('-', '')}")
    print(f"7 day-runs + 1 crawl on the Celery workers: {elapsed:.1f} s")


def test_a_worker_killed_whole_mid_run_fails_its_run_which_is_retried_and_the_day_is_done_once(stack):
    cluster, instance, day, llm = stack["cluster"], stack["instance"], stack["days"][-1], stack["llm"]
    scheduler = stack["redis"].client(6)
    llm.hold.set()
    run_id = client.run_task_now(TASK_CONTRIBUTIONS_ANALYSIS, day, client=cluster.client())
    assert llm.held.wait(120), cluster.tails()  # the run is judging its day: it holds the day's lock
    assert scheduler.get(lock_key(TASK_CONTRIBUTIONS_ANALYSIS, day)) == run_id
    run = instance.get_run_by_id(run_id)
    victim = run.tags[WORKER_TAG].split("@")[0]
    survivor = {"w1", "w2"} - {victim}

    killed_at = time.monotonic()
    cluster.kill(victim)
    llm.hold.clear()  # the model answers again (the retry must not wait)
    failed_at = retried_at = None
    retry = None
    deadline = killed_at + 90
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        if failed_at is None and run.status.value == "FAILURE":
            failed_at = time.monotonic()
        if retry is None:
            children = [r for r in instance.get_runs() if r.parent_run_id == run_id]
            if children:
                retry, retried_at = children[0], time.monotonic()
        if retry is not None and instance.get_run_by_id(retry.run_id).status.value in ("SUCCESS", "FAILURE"):
            break
        time.sleep(0.25)
    assert failed_at is not None and retry is not None, cluster.tails()
    retry = instance.get_run_by_id(retry.run_id)
    done_at = time.monotonic()
    assert retry.status.value == "SUCCESS", cluster.tails()
    assert retry.tags[WORKER_TAG] == cluster.worker_name(survivor.pop())
    assert retry.tags[STATUS_TAG] == "success"  # the guard let the retry take the dead run's lock over
    messages = " ".join(str(e.message) for e in instance.all_logs(run_id))
    assert "answered none of 2 pings" in messages and victim in messages

    # the day done once: one materialization of the analysis, the success key, no lock left
    assert materializations(instance, run_id, "contributions_analysis") == []
    assert materializations(instance, retry.run_id, "contributions_analysis") == [day]
    assert scheduler.get(success_key(TASK_CONTRIBUTIONS_ANALYSIS, day)) == "completed"
    assert scheduler.get(lock_key(TASK_CONTRIBUTIONS_ANALYSIS, day)) is None
    frame = analysis(stack, day)
    assert sorted(frame["id"]) == [f"{day}-{n}" for n in range(3)]
    print(
        f"kill -> failed {failed_at - killed_at:.1f} s, -> retry launched {retried_at - killed_at:.1f} s, "
        f"-> retry succeeded {done_at - killed_at:.1f} s"
    )


def test_the_celery_instance_is_the_production_one_with_the_checking_launcher(
    postgres, tmp_path, monkeypatch
):
    """deploy/dagster-celery.yaml differs from deploy/dagster.yaml only by the launcher, the coordinator that
    tags runs with their queue, the per-queue limits and the monitoring poll (the two files must not drift
    apart); runs are routed by task."""
    import shutil

    import dagster as dg
    import yaml

    from ocapistaine_pipelines.orchestration.chain import CRAWLED_DOCUMENTS, TASKS, task_run_tags

    from .test_deploy_queue import QUEUE_LIMITS

    celery_yaml = yaml.safe_load((ROOT / "deploy" / "dagster-celery.yaml").read_text())
    plain_yaml = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())
    for section in ("storage", "run_retries", "schedules", "sensors", "retention", "telemetry"):
        assert celery_yaml[section] == plain_yaml[section], section
    assert celery_yaml["run_coordinator"]["config"] == plain_yaml["run_queue"]
    assert {
        k: v
        for k, v in celery_yaml["run_monitoring"].items()
        if k not in ("poll_interval_seconds", "max_resume_run_attempts")
    } == {k: v for k, v in plain_yaml["run_monitoring"].items() if k != "poll_interval_seconds"}

    shutil.copy(ROOT / "deploy" / "dagster-celery.yaml", tmp_path / "dagster.yaml")
    for name, value in postgres.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:9/2")
    monkeypatch.setenv("CELERY_RESULT_BACKEND", "redis://127.0.0.1:9/3")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        launcher = instance.run_launcher
        assert type(launcher).__name__ == "WorkerCheckingCeleryRunLauncher"
        assert (launcher.broker, launcher.backend) == ("redis://127.0.0.1:9/2", "redis://127.0.0.1:9/3")
        assert (launcher.missed_pings, launcher.worker_ping_timeout_seconds) == (2, 2)
        assert (
            launcher.supports_check_run_worker_health and instance.run_monitoring_max_resume_run_attempts == 0
        )
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert limits[:2] == QUEUE_LIMITS
        assert {"key": QUEUE_TAG, "value": "crawl", "limit": 1} in limits

        def run(tags=None, assets=None):
            return dg.DagsterRun(job_name="__ASSET_JOB", tags=tags or {}, asset_selection=assets)

        crawl_tags = task_run_tags(TASKS[TASK_FIRECRAWL], "2026-11-29")
        assert launcher.queue_for(run(crawl_tags)) == "crawl"  # the schedules' and the client's tag
        assert launcher.queue_for(run(assets={CRAWLED_DOCUMENTS})) == "crawl"  # a UI launch of the crawl
        assert launcher.queue_for(run({"dagster/partition": "2026-11-29"})) == "dagster"
        assert launcher.queue_for(run({**crawl_tags, QUEUE_TAG: "big"})) == "big"  # an explicit tag wins


def test_a_worker_without_its_environment_refuses_to_start(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    full = {
        "DAGSTER_HOME": str(home),
        "OCAPISTAINE_DATA_DIR": "s3://bucket/town",
        "REDIS_URL": "redis://r:6379",
        "CELERY_BROKER_URL": "redis://127.0.0.1:9/0",
        "CELERY_RESULT_BACKEND": "redis://127.0.0.1:9/1",
    }
    assert worker_environment_problems(full) == []
    for missing in (
        "DAGSTER_HOME",
        "OCAPISTAINE_DATA_DIR",
        "REDIS_URL",
        "CELERY_BROKER_URL",
        "CELERY_RESULT_BACKEND",
    ):
        [problem] = worker_environment_problems({k: v for k, v in full.items() if k != missing})
        assert problem.startswith(missing)
    assert worker_environment_problems({**full, "REDIS_URL": "", "REDIS_HOST": "redis.internal"}) == []
    assert "no dagster.yaml" in worker_environment_problems({**full, "DAGSTER_HOME": str(tmp_path)})[0]
    assert (
        "unsupported scheme" in worker_environment_problems({**full, "OCAPISTAINE_DATA_DIR": "gs://b/p"})[0]
    )

    # the real command: it stops before connecting anywhere, naming what is missing
    env = {"PATH": str(BIN), "HOME": str(tmp_path), **{k: v for k, v in full.items() if k != "REDIS_URL"}}
    started = time.monotonic()
    done = subprocess.run(
        [str(BIN / "celery"), "-A", "ocapistaine_pipelines.workers.app", "worker", "-Q", "dagster"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(tmp_path),
    )
    assert done.returncode != 0
    assert "refusing to start" in done.stderr and "REDIS_URL is not set" in done.stderr
    assert "never falls back to localhost" in done.stderr
    assert time.monotonic() - started < 30
