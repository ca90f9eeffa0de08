"""Run-failure alerts: log every failed run and POST a JSON summary to n8n.

``OCAPISTAINE_ALERT_WEBHOOK`` is read when a failure is seen, so setting it needs no redeploy of the
code. The payload is small and stable (n8n workflows read it):
``{task, date, run_id, job, error, asset_keys, dagster_url?}``. The webhook URL is never logged (n8n
webhook paths are secrets); a webhook that keeps failing is logged and the alert dropped after a few
attempts, so one broken receiver cannot block the sensor.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import dagster as dg

from ..http_policy import HttpFailure, HttpPolicy
from ..redaction import redact, safe_text, show_url
from ..settings import env_number
from .chain import PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG, TASK_TAG, task_for_assets

ALERT_WEBHOOK_ENV = "OCAPISTAINE_ALERT_WEBHOOK"
#: Optional base URL of the Dagster UI, to put a link to the run in the alert.
DAGSTER_UI_URL_ENV = "OCAPISTAINE_DAGSTER_URL"
ALERT_ATTEMPTS = 3
ALERT_TIMEOUT_SECONDS = 5.0
ALERT_BACKOFF_SECONDS = 0.5
MAX_ERROR_CHARS = 2000
#: Seconds between two evaluations of the failure sensor. Dagster's daemon logs two INFO lines at every
#: evaluation of every sensor ("Checking for new runs for sensor", "No run requests returned ... skipping"):
#: at its 30 s default they buried the console (69 lines in 17 minutes); an alert 2 minutes late is fine.
ALERT_INTERVAL_ENV = "OCAPISTAINE_ALERT_INTERVAL_SECONDS"
ALERT_INTERVAL_SECONDS = int(env_number(os.environ, ALERT_INTERVAL_ENV, 120, integer=True, positive=True))


def run_day(run: dg.DagsterRun) -> str | None:
    """The run's partition (``YYYY-MM-DD``), or ``start..end`` for a range, or ``None``."""
    tags = run.tags
    if tags.get(PARTITION_TAG):
        return tags[PARTITION_TAG]
    if tags.get(RANGE_START_TAG) and tags.get(RANGE_END_TAG):
        return f"{tags[RANGE_START_TAG]}..{tags[RANGE_END_TAG]}"
    return None


def planned_asset_keys(instance: dg.DagsterInstance, run_id: str) -> set[dg.AssetKey]:
    """The assets a run set out to materialize (runs launched without an asset selection, e.g. jobs)."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    ).records
    return {
        record.event_log_entry.dagster_event.asset_key
        for record in records
        if record.event_log_entry.dagster_event
    }


def failure_summary(context: dg.RunFailureSensorContext) -> dict[str, Any]:
    """What n8n needs to page someone: which task, which day, which run, and why."""
    run = context.dagster_run
    keys = set(run.asset_selection or ()) or planned_asset_keys(context.instance, run.run_id)
    asset_keys = sorted(key.to_user_string() for key in keys)
    step_errors = []
    for event in context.get_step_failure_events():
        error = getattr(event.event_specific_data, "error", None)
        if error is not None:
            message = error.message.strip()
            if error.cls_name == "Failure":  # dg.Failure: its description is the message
                message = message.split(": ", 1)[-1]
            step_errors.append(f"{event.step_key}: {message}")
    error_text = "\n".join(step_errors) or (context.failure_event.message or "run failed")
    summary = {
        "task": run.tags.get(TASK_TAG) or task_for_assets(keys),
        "date": run_day(run),
        "run_id": run.run_id,
        "job": run.job_name,
        "error": safe_text(error_text, MAX_ERROR_CHARS),
        "asset_keys": asset_keys,
    }
    base_url = os.environ.get(DAGSTER_UI_URL_ENV)
    if base_url:
        summary["dagster_url"] = f"{base_url.rstrip('/')}/runs/{run.run_id}"
    return summary


def webhook_host(url: str) -> str:
    """Where alerts go, safe to log: scheme and host only (the path of an n8n webhook is its secret)."""
    return show_url(url)


def alert_policy(attempts: int | None = None, timeout: float | None = None) -> HttpPolicy:
    """The alert webhook's HTTP policy (``http_policy``): a few quick attempts, so a broken receiver
    costs the sensor seconds, not minutes (bound: ``alert_policy().bound_seconds()``)."""
    attempts = attempts or ALERT_ATTEMPTS
    timeout = ALERT_TIMEOUT_SECONDS if timeout is None else timeout
    return HttpPolicy(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries=attempts - 1,
        backoff=ALERT_BACKOFF_SECONDS,
        backoff_max=ALERT_BACKOFF_SECONDS * 4,
        retry_after_max=ALERT_BACKOFF_SECONDS * 4,
        deadline=attempts * timeout * 2,
    )


def post_alert(
    url: str, payload: Mapping[str, Any], *, attempts: int | None = None, timeout: float | None = None
) -> None:
    """POST ``payload`` as JSON under ``alert_policy`` (connection errors, 429 and 5xx are retried);
    raises ``RuntimeError`` at the end. The payload's texts go through the redaction path; the error
    names the receiver's scheme and host and the HTTP status, never the path (the webhook's secret)."""
    client = alert_policy(attempts, timeout).client()
    body = json.dumps(_redacted(payload), ensure_ascii=False).encode("utf-8")
    where = f"alert webhook at {webhook_host(url)}"
    try:
        response = client.request("POST", url, data=body, headers={"Content-Type": "application/json"})
    except HttpFailure as error:
        raise RuntimeError(
            redact(f"{where} failed after {error.attempts} attempt(s): {_cause(error)}")
        ) from None
    if response.status_code >= 400:
        raise RuntimeError(
            f"{where} failed after {client.attempts_of(response)} attempt(s): HTTP {response.status_code}"
        )


def _cause(error: HttpFailure) -> str:
    return str(error).rsplit(": ", 1)[-1]


def _redacted(value: Any) -> Any:
    """Every string of the payload through the redaction path (an error may quote a secret)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(item) for item in value]
    return value


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=ALERT_INTERVAL_SECONDS,
    description="Logs every failed run of this code location and, when OCAPISTAINE_ALERT_WEBHOOK is set, "
    "POSTs {task, date, run_id, error, asset_keys} to it (n8n).",
)
def alert_on_run_failure(context: dg.RunFailureSensorContext) -> None:
    summary = _redacted(failure_summary(context))
    context.log.error(
        f"run {summary['run_id']} failed: task={summary['task']} date={summary['date']} "
        f"assets={','.join(summary['asset_keys']) or '-'}: {summary['error']}"
    )
    url = os.environ.get(ALERT_WEBHOOK_ENV, "").strip()
    if not url:
        return
    try:
        post_alert(url, summary)
    except RuntimeError as error:
        context.log.error(f"{error}; the alert for run {summary['run_id']} is dropped")
        return
    context.log.info(f"alert for run {summary['run_id']} sent to {webhook_host(url)}")


from .deadlines import deadline_alerts  # noqa: E402 - deadlines reuses post_alert from here
from .range_checks import check_range_days  # noqa: E402

SENSORS: list = [alert_on_run_failure, deadline_alerts, check_range_days]
