"""What the FastAPI app calls for its scheduler endpoints: launch a task, read its history, see schedules.

``run_task_now`` and ``get_scheduler_status`` talk to the Dagster webserver's GraphQL API
(``DAGSTER_GRAPHQL_URL``, or ``DAGSTER_GRAPHQL_HOST``/``DAGSTER_GRAPHQL_PORT``; default
``http://localhost:3000``); ``get_task_history`` reads the legacy Redis markers directly, so it keeps
working when Dagster is down. Importing this module is cheap: ``dagster_graphql`` (and its HTTP
stack) is imported on first use.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .guard.contract import FORCE_TAG, day_string
from .orchestration.chain import PARTITION_TAG, task_run_tags
from .partitions import PARIS, daily_partitions
from .tasks import task

if TYPE_CHECKING:
    from dagster_graphql import DagsterGraphQLClient

DEFAULT_GRAPHQL_URL = "http://localhost:3000"
CODE_LOCATION = os.environ.get("OCAPISTAINE_CODE_LOCATION", "ocapistaine_pipelines")
REPOSITORY = "__repository__"

DayLike = str | dt.date | None


class DagsterUnavailable(RuntimeError):
    """The Dagster webserver did not answer (down, wrong host or port)."""


def _unreachable(error: BaseException) -> bool:
    import requests

    seen = error
    while seen is not None:
        if isinstance(
            seen, (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError)
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _graphql_call(client, fn, *args, **kwargs):
    """Run one client call; a webserver that does not answer becomes one clear ``DagsterUnavailable``."""
    try:
        return fn(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - re-raised, clearer when the server is unreachable
        if _unreachable(error):
            where = getattr(client, "_url", "the Dagster webserver")
            raise DagsterUnavailable(
                f"Dagster webserver unreachable at {where}: is `dagster dev` or the webserver running?"
            ) from None
        raise


def graphql_url(environ: Mapping[str, str] | None = None) -> str:
    """``DAGSTER_GRAPHQL_URL`` first, else ``http://{DAGSTER_GRAPHQL_HOST}:{DAGSTER_GRAPHQL_PORT}``."""
    env = os.environ if environ is None else environ
    if env.get("DAGSTER_GRAPHQL_URL"):
        return env["DAGSTER_GRAPHQL_URL"].rstrip("/")
    if env.get("DAGSTER_GRAPHQL_HOST") or env.get("DAGSTER_GRAPHQL_PORT"):
        return (
            f"http://{env.get('DAGSTER_GRAPHQL_HOST', 'localhost')}:{env.get('DAGSTER_GRAPHQL_PORT', '3000')}"
        )
    return DEFAULT_GRAPHQL_URL


def graphql_client(url: str | None = None, timeout: int = 30) -> DagsterGraphQLClient:
    """A ``DagsterGraphQLClient`` for ``url`` (``http[s]://host[:port][/prefix]``)."""
    from dagster_graphql import DagsterGraphQLClient

    url = url or graphql_url()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not a Dagster webserver URL: {url!r} (expected http[s]://host[:port])")
    return DagsterGraphQLClient(
        parts.hostname,
        port_number=parts.port,
        use_https=parts.scheme == "https",
        path_prefix=parts.path.rstrip("/"),
        timeout=timeout,
    )


def partition_key(date: DayLike = None) -> str:
    """``YYYY-MM-DD`` of ``date`` (``YYYY-MM-DD``, ``YYYYMMDD`` or a date); today in Europe/Paris by default.

    Days before the first partition or after today (Europe/Paris) have no partition: ``ValueError``.
    """
    today = dt.datetime.now(PARIS).strftime("%Y-%m-%d")
    if date is None:
        return today
    key = dt.datetime.strptime(day_string(date), "%Y%m%d").strftime("%Y-%m-%d")
    if key < daily_partitions.start.strftime("%Y-%m-%d"):
        raise ValueError(f"{key} is before the first partition ({daily_partitions.start:%Y-%m-%d})")
    if key > today:
        raise ValueError(f"{key} is in the future (today in Europe/Paris is {today})")
    return key


def run_task_now(task_name: str, date: DayLike = None, force: bool = False, *, client=None) -> str:
    """Launch one run of the task's job (named after the task) for the day; returns the Dagster run id.

    The run goes through the queue like a scheduled one, with the same tags (one run per task and
    day, the task's max runtime). ``force=True`` tags the run ``ocapistaine/force=true``: the guard
    ignores the success key but still takes the lock.
    """
    daily_task = task(task_name)
    partition = partition_key(date)
    tags = {PARTITION_TAG: partition, **task_run_tags(daily_task, partition)}
    if force:
        tags[FORCE_TAG] = "true"
    client = client or graphql_client()
    return _graphql_call(
        client,
        client.submit_job_execution,
        daily_task.job_name,
        repository_location_name=CODE_LOCATION,
        repository_name=REPOSITORY,
        tags=tags,
    )


def get_task_history(
    date: DayLike = None, *, environ: Mapping[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """The legacy ``get_task_history(date)``, per task: ``{task, date, completed, running, success_ttl,
    lock_ttl}``
    (plus ``lock_holder``), read from the Redis scheduler db with the same settings as the assets.
    """
    from .guard.resource import TaskGuard
    from .redis_connection import redis_resource_from_env

    redis = redis_resource_from_env(dict(os.environ if environ is None else environ))
    try:
        rows = TaskGuard(redis=redis).history(day_string(partition_key(date)))
    finally:
        redis.teardown_after_execution(None)  # closes the connection pools
    return {row["task"]: row for row in rows}


_STATUS_QUERY = """
query OcapistaineSchedulerStatus($selector: RepositorySelector!) {
  instance {
    daemonHealth { allDaemonStatuses { daemonType healthy required lastHeartbeatTime } }
  }
  schedulesOrError(repositorySelector: $selector) {
    __typename
    ... on Schedules {
      results {
        name
        cronSchedule
        executionTimezone
        description
        scheduleState { status ticks(limit: 1) { status timestamp skipReason runIds } }
        futureTicks(limit: 1) { results { timestamp } }
      }
    }
    ... on PythonError { message }
    ... on RepositoryNotFoundError { message }
  }
  sensorsOrError(repositorySelector: $selector) {
    __typename
    ... on Sensors { results { name sensorState { status } } }
    ... on PythonError { message }
    ... on RepositoryNotFoundError { message }
  }
}
"""


def _paris(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, PARIS).isoformat()


def get_scheduler_status(*, client=None) -> dict[str, Any]:
    """Schedules (state, cron, next tick, last tick) and sensors, and whether the daemon runs them.

    ``running`` is true when the scheduler daemon reports healthy: a schedule that is RUNNING but has
    no healthy daemon never ticks.
    """
    client = client or graphql_client()
    data = _graphql_call(
        client,
        client._execute,
        _STATUS_QUERY,
        {"selector": {"repositoryLocationName": CODE_LOCATION, "repositoryName": REPOSITORY}},
    )
    schedules_or_error = data["schedulesOrError"]
    if schedules_or_error["__typename"] != "Schedules":
        raise RuntimeError(
            f"Dagster could not list the schedules: "
            f"{schedules_or_error.get('message', schedules_or_error['__typename'])}"
        )
    daemons = {d["daemonType"]: d for d in data["instance"]["daemonHealth"]["allDaemonStatuses"]}
    scheduler = daemons.get("SCHEDULER") or {}
    schedules = []
    for schedule in schedules_or_error["results"]:
        ticks = schedule["scheduleState"]["ticks"]
        future = schedule["futureTicks"]["results"]
        last = ticks[0] if ticks else None
        schedules.append(
            {
                "name": schedule["name"],
                "cron": schedule["cronSchedule"],
                "timezone": schedule["executionTimezone"],
                "status": schedule["scheduleState"]["status"],
                "next_tick": _paris(future[0]["timestamp"])
                if future and schedule["scheduleState"]["status"] == "RUNNING"
                else None,
                "last_tick": None
                if last is None
                else {
                    "status": last["status"],
                    "time": _paris(last["timestamp"]),
                    "skip_reason": last["skipReason"],
                    "run_ids": last["runIds"],
                },
                "description": schedule["description"],
            }
        )
    sensors_or_error = data["sensorsOrError"]
    sensors = (
        [{"name": s["name"], "status": s["sensorState"]["status"]} for s in sensors_or_error["results"]]
        if sensors_or_error["__typename"] == "Sensors"
        else []
    )
    return {
        "running": bool(scheduler.get("healthy")),
        "daemons": {name: bool(d.get("healthy")) for name, d in daemons.items()},
        "schedules": sorted(schedules, key=lambda s: s["name"]),
        "sensors": sensors,
    }
