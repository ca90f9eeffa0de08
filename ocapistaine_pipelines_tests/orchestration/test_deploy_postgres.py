"""The production instance (deploy/dagster.yaml) on a real PostgreSQL runs a guarded materialization."""

import shutil

import dagster as dg
import pytest

from ocapistaine_pipelines.guard.contract import STATUS_TAG, TASK_CONTRIBUTIONS_ANALYSIS, success_key

from .conftest import ROOT
from .standin_assets import contributions, contributions_analysis
from .test_deploy_queue import QUEUE_LIMITS

DAY = "2026-11-29"


def production_home(postgres, tmp_path, monkeypatch):
    """A DAGSTER_HOME holding deploy/dagster.yaml; the private server's DAGSTER_PG_* in the environment."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    for name, value in postgres.items():
        monkeypatch.setenv(name, value)
    return home


@pytest.fixture
def production_instance(postgres, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(production_home(postgres, tmp_path, monkeypatch)))
    with dg.DagsterInstance.get() as instance:
        yield instance
        instance.wipe()  # the server is shared by the session's tests


def pg_query(postgres, sql, *args):
    import psycopg2

    with (
        psycopg2.connect(
            host=postgres["DAGSTER_PG_HOST"],
            port=postgres["DAGSTER_PG_PORT"],
            dbname=postgres["DAGSTER_PG_DB"],
            user=postgres["DAGSTER_PG_USERNAME"],
            password=postgres["DAGSTER_PG_PASSWORD"],
        ) as conn,
        conn.cursor() as cursor,
    ):
        cursor.execute(sql, args)
        return cursor.fetchall()


@pytest.mark.slow
def test_the_production_config_uses_postgres_the_queue_limit_monitoring_and_retries(production_instance):
    instance = production_instance
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    queue = instance.get_concurrency_config().run_queue_config
    assert queue.tag_concurrency_limits == QUEUE_LIMITS
    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0
    assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
    assert instance.run_retries_retry_on_asset_or_op_failure is False


@pytest.mark.slow
def test_a_guarded_materialization_runs_and_is_stored_in_postgres(
    production_instance, postgres, base_resources, scheduler_db
):
    instance = production_instance
    first = dg.materialize(
        [contributions, contributions_analysis],
        instance=instance,
        partition_key=DAY,
        resources=base_resources,
    )
    assert first.success
    assert scheduler_db.get(success_key(TASK_CONTRIBUTIONS_ANALYSIS, DAY)) == "completed"
    assert instance.get_run_by_id(first.run_id).tags[STATUS_TAG] == "success"

    # the records are in PostgreSQL itself, not in a local SQLite file
    [(status,)] = pg_query(postgres, "select status from runs where run_id = %s", first.run_id)
    assert status == "SUCCESS"
    partitions = pg_query(
        postgres,
        "select partition from event_logs where run_id = %s and dagster_event_type = 'ASSET_MATERIALIZATION' "
        "and asset_key like %s",
        first.run_id,
        "%contributions_analysis%",
    )
    assert partitions == [(DAY,)]

    second = dg.materialize(
        [contributions, contributions_analysis],
        instance=instance,
        partition_key=DAY,
        resources=base_resources,
    )
    assert second.success
    assert instance.get_run_by_id(second.run_id).tags[STATUS_TAG] == "skipped"
    latest = instance.get_latest_materialization_event(dg.AssetKey("contributions_analysis"))
    assert latest.run_id == first.run_id  # the skipped day left the stored value as it was


def test_missing_credentials_fail_loudly(postgres, tmp_path, monkeypatch):
    home = production_home(postgres, tmp_path, monkeypatch)
    monkeypatch.delenv("DAGSTER_PG_PASSWORD")
    with pytest.raises(Exception, match="DAGSTER_PG_PASSWORD"):
        dg.DagsterInstance.from_config(str(home))


@pytest.mark.slow
def test_the_production_workspace_loads_the_location_from_a_code_server(tmp_path):
    """deploy/workspace.yaml against `dagster code-server start`, as deploy/README.md runs them."""
    import os
    import signal
    import subprocess

    import yaml

    from ocapistaine_pipelines_tests.services import free_port, wait_for_port

    port = free_port()
    workspace = yaml.safe_load((ROOT / "deploy" / "workspace.yaml").read_text())
    [entry] = workspace["load_from"]
    assert entry["grpc_server"]["location_name"] == "ocapistaine_pipelines"
    entry["grpc_server"]["port"] = port
    (tmp_path / "workspace.yaml").write_text(yaml.safe_dump(workspace))
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    server = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "dagster"),
            "code-server",
            "start",
            "-m",
            "ocapistaine_pipelines.definitions",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "--location-name",
            "ocapistaine_pipelines",
        ],
        cwd=str(ROOT),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        wait_for_port(port, timeout=60)
        done = subprocess.run(
            [
                str(ROOT / ".venv" / "bin" / "dagster"),
                "definitions",
                "validate",
                "-w",
                str(tmp_path / "workspace.yaml"),
            ],
            cwd=str(ROOT),
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert "ocapistaine_pipelines" in done.stdout + done.stderr
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
