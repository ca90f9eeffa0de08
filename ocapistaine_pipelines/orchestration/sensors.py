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
import time
import urllib.error
import urllib.request
from typing import Any, Mapping, Optional
from urllib.parse import urlsplit

import dagster as dg

from .chain import PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG, TASK_TAG, task_for_assets

ALERT_WEBHOOK_ENV = "OCAPISTAINE_ALERT_WEBHOOK"
#: Optional base URL of the Dagster UI, to put a link to the run in the alert.
DAGSTER_UI_URL_ENV = "OCAPISTAINE_DAGSTER_URL"
ALERT_ATTEMPTS = 3
ALERT_TIMEOUT_SECONDS = 5.0
ALERT_BACKOFF_SECONDS = 0.5
MAX_ERROR_CHARS = 2000


def run_day(run: dg.DagsterRun) -> Optional[str]:
    """The run's partition (``YYYY-MM-DD``), or ``start..end`` for a range, or ``None``."""
    tags = run.tags
    if tags.get(PARTITION_TAG):
        return tags[PARTITION_TAG]
    if tags.get(RANGE_START_TAG) and tags.get(RANGE_END_TAG):
        return f"{tags[RANGE_START_TAG]}..{tags[RANGE_END_TAG]}"
    return None


def planned_asset_keys(instance: dg.DagsterInstance, run_id: str) -> set[dg.AssetKey]:
    """The assets a run set out to materialize (runs launched without an asset selection, e.g. jobs)."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED).records
    return {record.event_log_entry.dagster_event.asset_key for record in records if record.event_log_entry.dagster_event}


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
        "error": error_text[:MAX_ERROR_CHARS],
        "asset_keys": asset_keys,
    }
    base_url = os.environ.get(DAGSTER_UI_URL_ENV)
    if base_url:
        summary["dagster_url"] = f"{base_url.rstrip('/')}/runs/{run.run_id}"
    return summary


def webhook_host(url: str) -> str:
    """Where alerts go, safe to log: scheme and host only (the path of an n8n webhook is its secret)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port else "")


def post_alert(url: str, payload: Mapping[str, Any], *, attempts: Optional[int] = None, timeout: float = ALERT_TIMEOUT_SECONDS) -> None:
    """POST ``payload`` as JSON, retrying connection errors and 5xx; raises ``RuntimeError`` at the end.

    The message of the error names the host and the HTTP status, never the full URL.
    """
    attempts = attempts or ALERT_ATTEMPTS
    body = json.dumps(payload).encode("utf-8")
    last = "no attempt made"
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json", "User-Agent": "ocapistaine-pipelines"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read()
                return
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code}"
            if error.code < 500 and error.code != 429:
                break  # the receiver refuses this payload: retrying will not help
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            last = f"{type(reason).__name__}"
        if attempt < attempts:
            time.sleep(ALERT_BACKOFF_SECONDS * attempt)
    raise RuntimeError(f"alert webhook at {webhook_host(url)} failed after {attempt} attempt(s): {last}")


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Logs every failed run of this code location and, when OCAPISTAINE_ALERT_WEBHOOK is set, "
    "POSTs {task, date, run_id, error, asset_keys} to it (n8n).",
)
def alert_on_run_failure(context: dg.RunFailureSensorContext) -> None:
    summary = failure_summary(context)
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


SENSORS: list = [alert_on_run_failure]
