"""The run-failure sensor: logs the failure and POSTs a JSON summary to a loopback webhook."""

import os

import dagster as dg
import pytest

from ocapistaine_pipelines.guard.contract import TASK_CONTRIBUTIONS_ANALYSIS
from ocapistaine_pipelines.orchestration import sensors
from ocapistaine_pipelines.orchestration.sensors import alert_on_run_failure, post_alert
from ocapistaine_pipelines_tests.services import free_port

from .standin_assets import FAIL_DAYS_ENV, contributions, contributions_analysis
from .webhook import SECRET_PATH, Webhook


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(sensors, "ALERT_BACKOFF_SECONDS", 0.01)


@pytest.fixture
def webhook():
    server = Webhook()
    yield server
    server.close()


@pytest.fixture
def failed_run(instance, base_resources, monkeypatch):
    """A real failed run of contributions + contributions_analysis for 2026-11-29."""
    monkeypatch.setenv(FAIL_DAYS_ENV, "2026-11-29")
    result = dg.materialize(
        [contributions, contributions_analysis],
        instance=instance,
        partition_key="2026-11-29",
        resources=base_resources,
        raise_on_error=False,
    )
    assert not result.success
    return instance, result


def sensor_context(instance, result):
    return dg.build_run_status_sensor_context(
        sensor_name=alert_on_run_failure.name,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
    ).for_run_failure()


def test_a_failed_run_is_posted_as_json_to_the_webhook(failed_run, webhook, monkeypatch, capsys):
    instance, result = failed_run
    monkeypatch.setenv(sensors.ALERT_WEBHOOK_ENV, webhook.url)
    monkeypatch.setenv(sensors.DAGSTER_UI_URL_ENV, "http://dagster.local:3000/")
    capsys.readouterr()
    alert_on_run_failure(sensor_context(instance, result))

    [payload] = webhook.received
    assert webhook.paths == [SECRET_PATH]
    assert payload["task"] == TASK_CONTRIBUTIONS_ANALYSIS
    assert payload["date"] == "2026-11-29"
    assert payload["run_id"] == result.run_id
    assert payload["asset_keys"] == ["contributions", "contributions_analysis"]
    assert (
        "contributions_analysis: task_contributions_analysis 20261129: [failed] validator unavailable for "
        "2026-11-29" in payload["error"]
    )
    assert payload["dagster_url"] == f"http://dagster.local:3000/runs/{result.run_id}"
    logs = capsys.readouterr().err  # the sensor's log, as the daemon prints it
    assert f"run {result.run_id} failed: task=task_contributions_analysis date=2026-11-29" in logs
    assert "sent to http://127.0.0.1:" in logs
    assert "secret-token" not in logs


def test_no_webhook_configured_still_logs_the_failure(failed_run, webhook, monkeypatch, capsys):
    instance, result = failed_run
    monkeypatch.delenv(sensors.ALERT_WEBHOOK_ENV, raising=False)
    capsys.readouterr()
    alert_on_run_failure(sensor_context(instance, result))
    assert webhook.received == []
    assert f"run {result.run_id} failed" in capsys.readouterr().err


def test_a_webhook_that_answers_5xx_is_retried_until_it_accepts(failed_run, monkeypatch):
    instance, result = failed_run
    flaky = Webhook(statuses=(502, 503, 200))
    try:
        monkeypatch.setenv(sensors.ALERT_WEBHOOK_ENV, flaky.url)
        alert_on_run_failure(sensor_context(instance, result))
        assert len(flaky.received) == 3
        assert flaky.received[0] == flaky.received[2]
    finally:
        flaky.close()


def test_a_webhook_that_is_down_is_logged_without_its_secret_path_and_the_sensor_goes_on(
    failed_run, monkeypatch, capsys
):
    instance, result = failed_run
    monkeypatch.setenv(sensors.ALERT_WEBHOOK_ENV, f"http://127.0.0.1:{free_port()}{SECRET_PATH}")
    monkeypatch.setattr(sensors, "ALERT_ATTEMPTS", 2)
    capsys.readouterr()
    alert_on_run_failure(sensor_context(instance, result))  # does not raise
    logs = capsys.readouterr().err
    assert "alert webhook at http://127.0.0.1:" in logs
    assert f"the alert for run {result.run_id} is dropped" in logs
    assert "secret-token" not in logs


def test_a_4xx_answer_is_not_retried():
    refusing = Webhook(statuses=(400,))
    try:
        with pytest.raises(RuntimeError, match=r"failed after 1 attempt\(s\): HTTP 400") as raised:
            post_alert(refusing.url, {"task": "x"})
        assert "secret-token" not in str(raised.value)
        assert len(refusing.received) == 1
    finally:
        refusing.close()


def test_a_range_run_reports_its_range(instance, base_resources, monkeypatch, webhook):
    monkeypatch.setenv(FAIL_DAYS_ENV, "2026-11-03")
    monkeypatch.setenv(sensors.ALERT_WEBHOOK_ENV, webhook.url)
    result = dg.materialize(
        [contributions_analysis],
        instance=instance,
        resources=base_resources,
        tags={
            "dagster/asset_partition_range_start": "2026-11-01",
            "dagster/asset_partition_range_end": "2026-11-05",
        },
        raise_on_error=False,
    )
    assert not result.success
    alert_on_run_failure(sensor_context(instance, result))
    [payload] = webhook.received
    assert payload["date"] == "2026-11-01..2026-11-05"
    assert payload["task"] == TASK_CONTRIBUTIONS_ANALYSIS
    assert "20261103" in payload["error"]


def test_the_sensor_is_on_by_default():
    assert alert_on_run_failure.default_status == dg.DefaultSensorStatus.RUNNING


@pytest.mark.slow
def test_the_failure_sensor_runs_every_two_minutes_unless_told_otherwise():
    """Every evaluation of a sensor costs two INFO lines in the daemon's console (Dagster's own)."""
    import subprocess
    import sys

    code = (
        "from ocapistaine_pipelines.orchestration.sensors import alert_on_run_failure as s; "
        "print(s.minimum_interval_seconds)"
    )
    env = {k: v for k, v in os.environ.items() if k != "OCAPISTAINE_ALERT_INTERVAL_SECONDS"}
    assert (
        subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout.strip()
        == "120"
    )
    env["OCAPISTAINE_ALERT_INTERVAL_SECONDS"] = "45"
    assert (
        subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout.strip()
        == "45"
    )
    env["OCAPISTAINE_ALERT_INTERVAL_SECONDS"] = "soon"
    failed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert (
        failed.returncode != 0
        and "OCAPISTAINE_ALERT_INTERVAL_SECONDS must be a whole number" in failed.stderr
    )
